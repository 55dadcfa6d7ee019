# Line tables of real code objects, for test_python: one line per code object,
# "MINOR FIRSTLINENO HEX LINES", LINES the line of every code unit as the interpreter
# itself reports it (co_positions on 3.11+, co_lines on 3.10), -1 for none.
import sys

SRC = '''
import os


def plain(a, b):
    c = a + b
    return c * 2


class Outer:
    def method(self, xs):
        total = 0
        for x in xs:
            try:
                total += x
            except TypeError:
                continue
        return total

    class Inner:
        def deep(self):
            return [y * y for y in range(10) if y % 3]


def gen(n):
    while n:
        yield n
        n -= 1
    lam = lambda q: (q,
                     q + 1)
    return lam



def far():
    x = 1
''' + '\n' * 300 + '''
    y = x + 2 ; z = (y, x, y, x, y, x, y, x, y, x, y, x, y, x, y, x, y, x, y, x, y, x, y, x, y, x, y, x, y, x, y, os.sep)
    with open(os.devnull) as f:
        f.read()
    return z
'''


def walk(code):
    yield code
    for c in code.co_consts:
        if hasattr(c, 'co_code'):
            yield from walk(c)


def lines(code):
    n = len(code.co_code) // 2
    if hasattr(code, 'co_positions'):
        return [-1 if p[0] is None else p[0] for p in code.co_positions()][:n]
    out = [-1] * n
    for start, end, line in code.co_lines():
        for i in range(start // 2, end // 2):
            out[i] = -1 if line is None else line
    return out


top = compile(SRC, '/tmp/py_tables_src.py', 'exec')
for c in walk(top):
    ls = lines(c)
    print(sys.version_info.minor, c.co_firstlineno, c.co_linetable.hex() or '-',
          ','.join(map(str, ls)))
