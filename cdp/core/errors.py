"""Errors that reach a user as one readable line instead of a stack trace."""


class CdpError(Exception):
    """A problem the user can fix (bad path, bad date, malformed file); printed as one line."""


class MissingColumnError(CdpError):
    """A landed file lacks a column the contract requires."""

    def __init__(self, file: str, column: str):
        super().__init__(f"{file}: missing required column '{column}'")
        self.file = file
        self.column = column
