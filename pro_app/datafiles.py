"""Reading YAML data files so that errors can name the file and line."""

from dataclasses import dataclass

import yaml

#: libyaml's parser where PyYAML was built with it: the same nodes and marks, several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class DataFileError(Exception):
    """A data file that cannot be used, with where and why."""

    path: str
    line: int | None
    where: str
    reason: str

    def __str__(self):
        place = f"{self.path}:{self.line}" if self.line else str(self.path)
        where = f" {self.where}:" if self.where else ""
        return f"{place}:{where} {self.reason}"


class LocatedYaml:
    """Parsed YAML plus a way to find the line of any path inside it."""

    def __init__(self, path):
        self.path = str(path)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise DataFileError(self.path, None, "", f"cannot read file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise DataFileError(self.path, None, "", "not UTF-8 text") from None
        loader = _LOADER(text)
        try:
            # Parse once: the node tree gives line numbers, the same tree gives the data.
            self.node = loader.get_single_node()
            self.data = loader.construct_document(self.node) if self.node is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise DataFileError(
                self.path, mark.line + 1 if mark else None, "", f"not valid YAML ({exc.problem})"
            ) from None
        finally:
            loader.dispose()

    def line_of(self, path):
        """Return the 1-based line where a key/index path sits, or its nearest parent."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for part in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        child = value
                        line = key.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if 0 <= part < len(node.value):
                    child = node.value[part]
                    line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line

    def error(self, path, reason):
        """Build a DataFileError pointing at a path inside this file."""
        return DataFileError(self.path, self.line_of(path), format_path(path), reason)


def format_path(path):
    """Render a key/index path as a.b[2].c."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def schema_errors(document, schema):
    """Yield DataFileErrors for every JSON-schema violation, in file order."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document.data), key=lambda e: list(map(str, e.path)))
    for err in errors:
        yield document.error(list(err.absolute_path), err.message)
