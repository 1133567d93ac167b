#!/usr/bin/env python3
"""Where the browser build's bytes are: the wasm's sections, and its code
summed by crate (from the function names cargo's wasm keeps: the
wasm-release profile strips debug info only, and web/build.sh drops the
names from what is served).

    python3 web/size-profile.py "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm-release/examples/arena.wasm" [ROWS]

Prints each section's size, then the ROWS (default 30) crates with the
most code. A function is counted for the first crate its (demangled) name
mentions, so generic code lands in the crate that defines the generic
function or its trait impl's type; `core`/`alloc` hold monomorphized std
code (sorting, formatting, collections).
"""

import collections
import re
import sys

SECTIONS = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
            6: "global", 7: "export", 8: "start", 9: "elem", 10: "code", 11: "data",
            12: "datacount"}


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    data = open(sys.argv[1], "rb").read()
    rows = int(sys.argv[2]) if len(sys.argv) == 3 else 30
    if data[:4] != b"\0asm":
        sys.exit(f"{sys.argv[1]}: not a wasm module")

    def leb(i):
        result = shift = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result, i

    def name(i):
        length, i = leb(i)
        return data[i:i + length].decode("utf-8", "replace"), i + length

    imported_functions = 0
    bodies = []
    names = {}
    i = 8
    print("sections:")
    while i < len(data):
        section = data[i]
        size, i = leb(i + 1)
        end = i + size
        label = SECTIONS.get(section, str(section))
        if section == 0:
            label += ":" + name(i)[0]
        print(f"{size:>12}  {label}")
        if section == 2:  # imports: functions among them come first in the index space
            count, j = leb(i)
            for _ in range(count):
                _, j = name(j)
                _, j = name(j)
                kind = data[j]
                j += 1
                if kind == 0:
                    _, j = leb(j)
                    imported_functions += 1
                elif kind == 1:  # table: type, limits
                    flags = data[j + 1]
                    _, j = leb(j + 2)
                    if flags & 1:
                        _, j = leb(j)
                elif kind == 2:  # memory: limits
                    flags = data[j]
                    _, j = leb(j + 1)
                    if flags & 1:
                        _, j = leb(j)
                elif kind == 3:  # global: type, mutability
                    j += 2
                elif kind == 4:  # tag
                    _, j = leb(j + 1)
        elif section == 10:
            count, j = leb(i)
            for _ in range(count):
                body, start = leb(j)
                bodies.append(body + start - j)
                j = start + body
        elif section == 0 and name(i)[0] == "name":
            j = name(i)[1]
            while j < end:
                kind = data[j]
                sub_size, j = leb(j + 1)
                if kind == 1:  # function names
                    count, k = leb(j)
                    for _ in range(count):
                        index, k = leb(k)
                        names[index], k = name(k)
                j += sub_size
        i = end

    if not names:
        sys.exit("no function names in this wasm (built with strip = true?)")
    by_crate = collections.Counter()
    for index, size in enumerate(bodies):
        by_crate[crate_of(names.get(imported_functions + index, "?"))] += size
    total = sum(bodies)
    print(f"code by crate ({total} bytes of code in {len(bodies)} functions):")
    for crate, size in by_crate.most_common(rows):
        print(f"{size:>12}  {100 * size / total:5.1f} %  {crate}")


def crate_of(symbol):
    """The first crate-like name in a legacy-mangled (`_ZN...E`) or plain symbol."""
    if symbol.startswith("_ZN"):
        i, parts = 3, []
        while i < len(symbol) and symbol[i].isdigit():
            j = i
            while symbol[j].isdigit():
                j += 1
            length = int(symbol[i:j])
            parts.append(symbol[j:j + length])
            i = j + length
        symbol = "::".join(parts)
        for escaped, plain in (("$LT$", "<"), ("$GT$", ">"), ("$u20$", " "), ("..", "::"),
                               ("$RF$", "&"), ("$BP$", "*"), ("$C$", ",")):
            symbol = symbol.replace(escaped, plain)
        symbol = symbol.lstrip("_")
    symbol = symbol.lstrip("<&* ").replace("dyn ", "").replace("impl ", "")
    found = re.search(r"[A-Za-z_][A-Za-z0-9_]*", symbol)
    return found.group(0) if found else "?"


if __name__ == "__main__":
    main()
