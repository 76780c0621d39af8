"""`crossalign languages`: the codes crossalign accepts."""

from crossalign.languages import all_languages


def add_arguments(parser):
    pass


def run(args) -> int:
    for code, name in all_languages():
        print(f"{code}\t{name}")
    return 0
