"""Reference results for vpipe's clustering metrics (src/metrics/clustering.rs), computed by the
code vpipe reproduces: CDAR's `split_cluster_acc_v2` / `_balanced` and its semi-supervised
k-means (repository Haawron/mmaction2, branch `ariel`, commit 465c8959: copied verbatim below,
`mmaction/datasets/custom_metrics.py` and `slurm/gcd4da/commons/semi_kmeans.py`), scipy's
`linear_sum_assignment` and scikit-learn's `KMeans(init='k-means++')`.

    .venv/bin/pip install scikit-learn scipy   # not needed by the tests, only to rewrite the fixture
    .venv/bin/python tests/reference/make_clustering_fixture.py tests/fixtures/clustering/reference.json

Writes: the features (source: labelled samples of the 3 old classes; target: 6 classes, 3 of
them new) as Gaussian blobs in 16-D with overlap, so accuracies sit well inside (0, 1);
random contingency cases with scipy's assignment and CDAR's accuracies; scikit-learn k-means
accuracies over 10 seeds; CDAR's closed-set semi-supervised k-means predictions (k = old
classes: no random draw, so they must match exactly); and its open-set `gcd_v2` (20 restarts,
seeds 5236·n) best and mean accuracies.
"""
import json
import sys

import numpy as np
from functools import reduce
from scipy.optimize import linear_sum_assignment as linear_assignment
from sklearn.cluster import KMeans as SkKMeans
from sklearn.metrics.pairwise import pairwise_distances

if not hasattr(np, 'infty'):
    np.infty = np.inf  # removed in NumPy 2.0; CDAR's code below (written for 1.x) uses it


# ---- CDAR mmaction/datasets/custom_metrics.py (verbatim, up to its __main__ block) ----
def split_cluster_acc_v2(y_true, y_pred, mask, return_conf=False, return_indmap=False):
    """
    Calculate clustering accuracy. Require scikit-learn installed
    First compute linear assignment on all data, then look at how good the accuracy is on subsets
    # Arguments
        mask: Which instances come from old classes (True) and which ones come from new classes (False)
        y: true labels, numpy.array with shape `(n_samples,)`
        y_pred: predicted labels, numpy.array with shape `(n_samples,)`
    # Return
        accuracy, in [0,1]
    """
    y_true = y_true.astype(int)

    old_classes_gt = set(y_true[mask])
    new_classes_gt = set(y_true[~mask])

    assert y_pred.size == y_true.size
    D = max(y_pred.max(), y_true.max()) + 1
    w = np.zeros((D, D), dtype=int)
    for i in range(y_pred.size):
        w[y_pred[i], y_true[i]] += 1

    ind = linear_assignment(w.max() - w)
    ind = np.vstack(ind).T

    ind_map = {j: i for i, j in ind}  # pred -> gt
    total_acc = sum([w[i, j] for i, j in ind]) * 1.0 / y_pred.size

    old_acc = 0
    total_old_instances = 0
    for l in old_classes_gt:
        old_acc += w[ind_map[l], l]  # shuffled pred, gt
        total_old_instances += sum(w[:, l])
    old_acc /= total_old_instances  # # correct old / # all old

    new_acc = 0
    total_new_instances = 0
    for l in new_classes_gt:
        new_acc += w[ind_map[l], l]  # shuffled pred, gt
        total_new_instances += sum(w[:, l])
    if total_new_instances != 0:  # if there is at least one new instances
        new_acc /= total_new_instances

    result = [total_acc, old_acc, new_acc]
    if return_conf:
        # confmat `w` in this function: row-pred, col-gt
        # confmat to be: row-gt, col-pred
        ind_reverse = np.argsort(ind[:,-1])
        result += [w[ind_reverse].T]
    if return_indmap:
        result += [ind[:,-1]]
    return result


def split_cluster_acc_v2_balanced(y_true, y_pred, mask):
    """
    Calculate clustering accuracy. Require scikit-learn installed
    First compute linear assignment on all data, then look at how good the accuracy is on subsets
    # Arguments
        mask: Which instances come from old classes (True) and which ones come from new classes (False)
        y: true labels, numpy.array with shape `(n_samples,)`
        y_pred: predicted labels, numpy.array with shape `(n_samples,)`
    # Return
        accuracy, in [0,1]
    """
    y_true = y_true.astype(int)

    old_classes_gt = set(y_true[mask])
    new_classes_gt = set(y_true[~mask])

    assert y_pred.size == y_true.size
    D = max(y_pred.max(), y_true.max()) + 1
    w = np.zeros((D, D), dtype=int)
    for i in range(y_pred.size):
        w[y_pred[i], y_true[i]] += 1

    ind = linear_assignment(w.max() - w)
    ind = np.vstack(ind).T

    ind_map = {j: i for i, j in ind}

    old_acc = np.zeros(len(old_classes_gt))
    total_old_instances = np.zeros(len(old_classes_gt))
    for idx, i in enumerate(old_classes_gt):
        old_acc[idx] += w[ind_map[i], i]
        total_old_instances[idx] += sum(w[:, i])

    new_acc = np.zeros(len(new_classes_gt))
    total_new_instances = np.zeros(len(new_classes_gt))
    for idx, i in enumerate(new_classes_gt):
        new_acc[idx] += w[ind_map[i], i]
        total_new_instances[idx] += sum(w[:, i])

    total_acc = np.concatenate([old_acc, new_acc]) / np.concatenate([total_old_instances, total_new_instances])
    old_acc /= total_old_instances
    new_acc /= total_new_instances
    total_acc, old_acc, new_acc = total_acc.mean(), old_acc.mean(), new_acc.mean() if new_acc.size != 0 else 0
    return total_acc, old_acc, new_acc



# ---- CDAR slurm/gcd4da/commons/semi_kmeans.py (verbatim; its imports are above) ----
class KMeans(object):

    def __init__(self, k, tol=0.0001, max_iter=30, metric='euclidean', known_data=None, alpha=0.5, seed=1234, verbose=False):
        """
            :param k: The number of clusters
            :param threshold: The convergance threshold (default: 0.0001)
            :param max_iter: The max number of iterations if convergance did not reach (default: 30)
            :param metric: The distance metric to use. Valid values are:
                "euclidean" (default), "manhattan", "chebyshev", "minkowski", "wminkowski", "seuclidean", "mahalanobis"
            :param known_data: A 2D array of indices of known points. When using this parameter, every cluster that
                does not contain known labels should be represented as empty list. For example, if we have a dataset and
                we know some points for classes 1 and 3, we would have
                ```known_data=[np.array([1,2,3,4]), np.array([]), np.array([19,20,21])]```
            :param alpha: When using semi supervised
                    clustering, we can weigh the known data points differently.
                    The range of this paremeter is between 0 <= alpha <= 1.
            :param verbose: Prints iterations and convergence rate when set to True (default: False)

            :type k: int
            :type tol: float
            :type max_iter: int
            :type metric: str
            :type know_data: list
            :type alpha: float
            :type verbose: bool
        """
        self.k = k
        self.tol = tol
        self.max_iter = max_iter
        self.centroids = None
        self.labels_  = None
        self.metric = metric
        self.known_data = known_data
        self.alpha = float(alpha)
        self.rng = np.random.default_rng(seed=seed)
        self.verbose = verbose

    def _validate_metric(self):
        """
            Validates that the metric parameter
        """
        try:
            pairwise_distances(np.array([0,0]).reshape(-1,1), np.array([1,1]).reshape(-1,1), metric=self.metric)
        except Exception as e:
            print(e)
            return

    def _get_distance(self, X, Y=None, norm_X=None):
        """
            X: [N_X, n_feat]
            Y: [N_Y, n_feat]
            norm_X: [N_X]
            returns: [N_X, N_Y or k]
        """
        if self.metric == 'cosine':
            norm_X = norm_X if norm_X is not None else np.einsum('ij,ji->i', X, X.T)  # (X @ X.T).diagnoal()
            norm_X = norm_X.reshape(-1, 1)  # [N_X, 1]
            Y = Y if Y is not None else self.centroids
            norm_Y = np.einsum('ij,ji->i', Y, Y.T).reshape(1, -1)  # [1, k]

            sim = X @ Y.T / (norm_X * norm_Y)**.5
            sim[(sim>1.)  & (abs(sim-1.)<1e-4)] = 1.
            sim[(sim<-1.) & (abs(sim+1.)<1e-4)] = -1.
            theta = np.arccos(sim)
            return theta
        else:
            return pairwise_distances(X, self.centroids, metric=self.metric)

    def _update_centroids(self, data):
        """
            Updates the clusters centroids by taking the mean of all the points the belongs ot that cluster
            :param data: The data to cluster
            :type data: np.array
        """
        for i in range(self.k):
            self.centroids[i] = np.mean(data[np.where(self.labels_==i)], axis=0)

    def _update_biased_centroids(self, X):
        """
            Updates the clusters centroids in the semi-supervised settings
            :param data: The data to cluster
            :type data: np.array
        """
        weights = (1-self.alpha) * np.ones_like(X)
        all_known_data = np.array(reduce(lambda x1, x2: np.hstack([x1, x2]), self.known_data, np.array([])), dtype=np.int64)
        weights[all_known_data] = self.alpha
        weights = weights / weights.sum()

        for i in range(self.k):
            # compute weights for every cluster
            inds = np.where(self.labels_==i)[0]
            self.centroids[i] = (weights[inds] * X[inds]).sum(axis=0)

    def _kmeans_pp(self, X):
        """
            KMeans++: Initialize the cluster centers

            :param X: The dataset to cluster
        """
        self.centroids = np.array([X[data_indices_for_c].mean(axis=0) for data_indices_for_c in self.known_data])

        centroid_args = []
        norm_X = np.einsum('ij,ji->i', X, X.T)
        new_centroid = self.centroids[-1]
        for c in range(self.k-len(self.centroids)):
            y = new_centroid.reshape(1, -1)  # [1, n_feat]
            d = self._get_distance(X, y, norm_X=norm_X).reshape(-1) ** .3  # [N]
            d[centroid_args] = 0
            new_centroid_arg = self.rng.choice(X.shape[0], p=d/d.sum())
            centroid_args.append(new_centroid_arg)
            new_centroid = X[new_centroid_arg]
            self.centroids = np.vstack([self.centroids, new_centroid])
        self.labels_ = self.predict(X)

    def predict_train(self):
        """
            :return: The labels of the clustered data
            :rtype: np.array
        """
        return self.labels_, self.centroids

    def fit_predict(self, data):
        """
            Clusteres the data and returns tha labels

            :param data: The data to cluster
            :type data: np.ndarray
            :return: The data labels
            :rtype: np.array
        """
        self.fit(data)
        return self.predict_train()

    def fit(self, X):
        """
            Clusters the data

            :param data: The data to cluster
            :type data: np.ndarray
        """
        # Find initial centroids
        self._kmeans_pp(X)
        norm_X = np.einsum('ij,ji->i', X, X.T)
        new_labels = self.labels_.copy()
        counter = 0
        diff = np.infty
        while counter < self.max_iter and self.tol < diff:
            new_labels = np.argmin(self._get_distance(X, norm_X=norm_X), axis=1).astype(np.int64)
            old_centroids = self.centroids.copy()
            self.labels_ = new_labels.copy()
            if self.known_data is not None:
                self._update_biased_centroids(X)
            else:
                self._update_centroids(X)
            diff = ((old_centroids - self.centroids) ** 2).mean() ** .5
            counter += 1
            if self.verbose:
                print(f"Iter {counter:3d}\tDiff: {diff:.4e}")
        return self

    def predict(self, X_, only_known=False):
        """
            :return: The labels of the data
            :rtype: np.array
        """
        distances = self._get_distance(X_)
        if only_known:
            distances = distances[:]
        new_labels = np.argmin(distances, axis=1).astype(np.int64)

        return new_labels


# ---- the fixture ----
def blobs(rng, classes, per_class, centers, spread):
    x = np.concatenate([centers[c] + spread * rng.standard_normal((per_class, centers.shape[1])) for c in classes])
    y = np.repeat(np.array(classes), per_class)
    return x.astype(np.float32), y


def accs(gt, pred, num_old):
    old = gt < num_old
    a, o, n = split_cluster_acc_v2(gt, pred, old)
    ab, ob, nb = split_cluster_acc_v2_balanced(gt, pred, old)
    return {"all": float(a), "old": float(o), "new": float(n), "balanced_all": float(ab), "balanced_old": float(ob), "balanced_new": float(nb)}


def main(out):
    rng = np.random.default_rng(20261206)
    num_old, num_all, dim = 3, 6, 16
    centers = 2.0 * rng.standard_normal((num_all, dim)) + 1.0  # off the origin: angles mean something
    xs, ys = blobs(rng, list(range(num_old)), 20, centers, 2.2)
    xt, yt = blobs(rng, list(range(num_all)), 30, centers, 2.2)

    cases = []
    for i in range(20):
        d = int(rng.integers(2, 9))
        gt = rng.integers(0, d, 60)
        pred = np.where(rng.random(60) < 0.6, (gt + i) % d, rng.integers(0, d, 60))
        w = np.zeros((d, d), dtype=int)
        for p, t in zip(pred, gt):
            w[p, t] += 1
        rows, cols = linear_assignment(w.max() - w)
        cases.append({"gt": gt.tolist(), "pred": pred.tolist(), "num_old": int(d // 2),
                      "assignment": cols.tolist(), "matched": int(w[rows, cols].sum()), **accs(gt, pred, d // 2)})

    km = []
    for seed in range(10):
        pred = SkKMeans(init="k-means++", n_clusters=num_all, n_init=10, random_state=seed).fit(xt).labels_
        km.append(accs(yt, pred, num_old))

    # Closed set: k = old classes, every centroid starts at a class mean: no random draw.
    x = np.concatenate([xs, xt]).astype(np.float64)
    known = [np.where(ys == i)[0].astype(np.int64) for i in range(num_old)]
    closed = KMeans(k=num_old, known_data=known, alpha=.3, metric="cosine", tol=1e-7, seed=0).fit(x)
    closed_pred = closed.predict(xt.astype(np.float64))

    # Open set, as SSKMeansTrainer runs gcd_v2: 20 restarts seeded 5236·n, best by balanced All.
    tries = []
    for n in range(20):
        m = KMeans(k=num_all, known_data=known, alpha=.3, metric="cosine", tol=1e-7, seed=5236 * n).fit(x)
        tries.append(accs(yt, m.predict(xt.astype(np.float64)), num_old))
    best = max(range(20), key=lambda i: (tries[i]["balanced_all"], -i))
    json.dump({
        "num_old_classes": num_old, "num_all_classes": num_all,
        "source": {"features": xs.tolist(), "labels": ys.tolist()},
        "target": {"features": xt.tolist(), "labels": yt.tolist()},
        "assignment_cases": cases,
        "sklearn_kmeans": km,
        "closed_set_predictions": closed_pred.tolist(),
        "closed_set": accs(yt, closed_pred, num_old),
        "gcd_v2_tries": tries,
        "gcd_v2_best": tries[best],
    }, open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1])
