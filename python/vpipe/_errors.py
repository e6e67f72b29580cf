"""vpipe's exceptions. Every one is a :class:`vpipe.Error` and carries vpipe's whole message
(the file, the line and the key at fault); some are also the built-in exception a Python user
would catch for that case."""


class Error(Exception):
    """Any error vpipe reports."""


class ConfigError(Error, ValueError):
    """A bad pipeline file, key, value or argument (the message names the file, line and key)."""


class FileNotFound(Error, FileNotFoundError):
    """A file vpipe was given (pipeline file, list, video, frame folder) does not exist."""


class DecodeError(Error):
    """A video that does not open or decode (not a video, no video stream, corrupt data)."""


class IndexOutOfRange(Error, IndexError):
    """A frame index outside the video (the message gives the valid range)."""
