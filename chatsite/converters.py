"""URL converters. `dbid`: an id that fits the database's 64-bit integer columns.

A larger number in a path (`/api/conversations/99999999999999999999/messages/`) would overflow
the query and answer 500; with this converter the URL simply does not match: a JSON 404.
"""

MAX_ID = 2**63 - 1


class DatabaseIdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("id out of range")
        return number

    def to_url(self, value: int) -> str:
        return str(value)
