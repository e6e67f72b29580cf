//! Deterministic sharding for batch clusters: `--shard I/N`, or the task's position in a Slurm
//! array, and the round-robin split of a list that every job uses.

use anyhow::{bail, Context, Result};

/// Shard `index` of `count` (0-based): items `index, index + count, index + 2·count, …` of a
/// list. The union of all shards is the whole list, and each keeps list order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0 ≤ index < count.
    pub index: usize,
    /// Shards in all.
    pub count: usize,
}

impl Shard {
    /// Parses `I/N`.
    ///
    /// # Errors
    /// Not two integers, N = 0, or I ≥ N.
    pub fn parse(s: &str) -> Result<Self> {
        let (i, n) = s.split_once('/').with_context(|| format!("--shard {s}: expected I/N"))?;
        let num = |v: &str| v.trim().parse::<usize>().with_context(|| format!("--shard {s}: {v:?} is not a number"));
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 || index >= count {
            bail!("--shard {s}: need 0 ≤ I < N");
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Slurm array task, from `SLURM_ARRAY_TASK_ID`, `_MIN`, `_STEP` and
    /// `_COUNT` read through `var`: the task id's position in the array, so `--array=0-3`,
    /// `1-4` and `0-7:2` all give shards 0..COUNT. `None` outside an array job.
    ///
    /// # Errors
    /// A variable that is not a number, or an id whose position is not below COUNT: an array
    /// given as a list (`--array=1,3,10`), whose positions Slurm's variables do not tell — pass
    /// `--shard I/N` there.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let Some(id) = var("SLURM_ARRAY_TASK_ID") else { return Ok(None) };
        let num = |name: &str, default: Option<usize>| -> Result<usize> {
            match var(name) {
                Some(v) => v.trim().parse().with_context(|| format!("{name}={v:?} is not a number")),
                None => default.with_context(|| format!("SLURM_ARRAY_TASK_ID is set but {name} is not")),
            }
        };
        let id: usize = id.trim().parse().with_context(|| format!("SLURM_ARRAY_TASK_ID={id:?} is not a number"))?;
        let (min, step, count) =
            (num("SLURM_ARRAY_TASK_MIN", Some(0))?, num("SLURM_ARRAY_TASK_STEP", Some(1))?, num("SLURM_ARRAY_TASK_COUNT", None)?);
        let offset = id.checked_sub(min).filter(|o| step > 0 && o % step == 0).map(|o| o / step);
        match offset {
            Some(index) if index < count => Ok(Some(Shard { index, count })),
            _ => bail!(
                "Slurm array task {id} is not at a position below SLURM_ARRAY_TASK_COUNT={count} of the range {min}..:{step} \
                 (an array given as a list, e.g. --array=1,3,10?): pass --shard I/N"
            ),
        }
    }

    /// The shard to process: the `--shard` flag, else the Slurm array task's, else none.
    ///
    /// # Errors
    /// As [`Self::parse`] and [`Self::from_slurm`].
    pub fn resolve(flag: Option<&str>) -> Result<Option<Self>> {
        match flag {
            Some(s) => Self::parse(s).map(Some),
            None => Self::from_slurm(|name| std::env::var(name).ok()),
        }
    }

    /// This shard's items of `items`, in order.
    pub fn select<T>(self, items: Vec<T>) -> Vec<T> {
        items.into_iter().enumerate().filter(|(k, _)| k % self.count == self.index).map(|(_, t)| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slurm(vars: &[(&str, &str)]) -> Result<Option<Shard>> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Shard::from_slurm(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn task(id: usize, min: usize, step: usize, count: usize) -> Result<Option<Shard>> {
        let (id, min, step, count) = (id.to_string(), min.to_string(), step.to_string(), count.to_string());
        slurm(&[
            ("SLURM_ARRAY_TASK_ID", &id),
            ("SLURM_ARRAY_TASK_MIN", &min),
            ("SLURM_ARRAY_TASK_STEP", &step),
            ("SLURM_ARRAY_TASK_COUNT", &count),
        ])
    }

    #[test]
    fn array_tasks_map_to_their_position() {
        // --array=0-3, 1-4 (ids 1..4: the case that once failed at id 4 and never ran shard 0), 0-7:2.
        let shards = |ids: &[usize], min, step| ids.iter().map(|&i| task(i, min, step, 4).unwrap().unwrap().index).collect::<Vec<_>>();
        assert_eq!(shards(&[0, 1, 2, 3], 0, 1), [0, 1, 2, 3]);
        assert_eq!(shards(&[1, 2, 3, 4], 1, 1), [0, 1, 2, 3]);
        assert_eq!(shards(&[0, 2, 4, 6], 0, 2), [0, 1, 2, 3]);
        assert_eq!(task(6, 0, 2, 4).unwrap().unwrap().count, 4);
        // A list (--array=1,3,10): Slurm says COUNT 3, MIN 1, STEP 1; id 10 has no derivable position.
        assert!(format!("{:#}", task(10, 1, 1, 3).unwrap_err()).contains("--shard I/N"));
        assert_eq!(slurm(&[]).unwrap(), None);
    }

    #[test]
    fn flag_parsing_and_selection() {
        assert_eq!(Shard::parse("1/4").unwrap(), Shard { index: 1, count: 4 });
        for bad in ["4/4", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let all: Vec<usize> = (0..10).collect();
        let parts: Vec<Vec<usize>> = (0..3).map(|i| Shard { index: i, count: 3 }.select(all.clone())).collect();
        assert_eq!(parts[1], [1, 4, 7]);
        let mut union: Vec<usize> = parts.concat();
        union.sort();
        assert_eq!(union, all);
    }
}
