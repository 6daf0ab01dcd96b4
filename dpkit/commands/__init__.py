"""Click commands of the ``dpkit`` CLI, one module per command; logic lives in the library.

``<name>.py`` declares a command (options, help) importing only click and torch-free modules
(:mod:`dpkit.names`, :mod:`dpkit.commands.options`); its callback imports the command's runner
from :mod:`dpkit.commands.runners`, the half that loads the library, so ``--help`` stays fast.
"""
