"""lagwatch: which process is making this machine slow, hot or drain its battery."""

__version__ = "0.1.0"
