#!/usr/bin/env python3
"""The layering guard of src/ (the table: .ci/layers).

Fails on any reference that goes up the table and on any import cycle
between top-level modules or between sibling files of one folder. Every
`crate::` and `super::` path counts: `use` lines, inline paths, `crate::{a,
b::c}` groups; comments, strings and `#[cfg(test)]` items do not. A module
of src/ missing from the table fails too; one listed that does not exist
yet is fine.

    python3 .ci/layers.py [SRC]     self-test, then check SRC (default: src)
    python3 .ci/layers.py --check SRC    check only

Prints each finding (file:line, the path, why) and a last line of counts;
exits 1 on any finding.
"""
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, 'layers')


def read_table(path=TABLE):
    """{module: layer index}, bottom layer 0."""
    layer_of = {}
    n = 0
    for line in open(path, encoding='utf-8'):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        mods = line.split(':', 1)[1].split() if ':' in line else line.split()
        for m in mods:
            if m in layer_of:
                raise SystemExit(f'{path}: {m} is listed twice')
            layer_of[m] = n
        n += 1
    return layer_of


# ---- reading Rust: what is code ------------------------------------------

def blank_noncode(src):
    """`src` with comments, string and char literals replaced by spaces
    (newlines kept, so offsets and line numbers stay)."""
    out = list(src)
    i, n = 0, len(src)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != '\n':
                out[k] = ' '

    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif src.startswith('/*', i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith('/*', j):
                    depth, j = depth + 1, j + 2
                elif src.startswith('*/', j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in 'rb' and re.match(r'(?:br|r)#*"', src[i:i + 260]) and not _ident_before(src, i):
            m = re.match(r'(?:br|r)(#*)"', src[i:])
            close = '"' + m.group(1)
            j = src.find(close, i + m.end())
            j = n if j < 0 else j + len(close)
            blank(i, j)
            i = j
        elif c == '"' or (c == 'b' and src.startswith('b"', i) and not _ident_before(src, i)):
            j = i + (2 if c == 'b' else 1)
            while j < n and src[j] != '"':
                j += 2 if src[j] == '\\' else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}'), else a lifetime ('a).
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]*\}|x..|.)|[^\\'])'", src[i:i + 16])
            if m:
                blank(i, i + m.end())
                i += m.end()
            else:
                i += 1
        else:
            i += 1
    return ''.join(out)


def _ident_before(src, i):
    return i > 0 and (src[i - 1].isalnum() or src[i - 1] == '_')


def matching_brace(code, i):
    """The index just after the brace that closes the one at `i`."""
    depth = 0
    for j in range(i, len(code)):
        if code[j] == '{':
            depth += 1
        elif code[j] == '}':
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


def strip_test_items(code):
    """Blank every item under `#[cfg(test)]` (a test module, a test-only
    function or `use`)."""
    out = list(code)
    for m in re.finditer(r'#\[cfg\(test\)\]', code):
        j = m.end()
        # Further attributes, then the item: to its `;` or its braces.
        while True:
            k = re.match(r'\s*#\[[^\]]*\]', code[j:])
            if not k:
                break
            j += k.end()
        semi = code.find(';', j)
        brace = code.find('{', j)
        if brace >= 0 and (semi < 0 or brace < semi):
            end = matching_brace(code, brace)
        else:
            end = len(code) if semi < 0 else semi + 1
        for k in range(m.start(), end):
            if out[k] != '\n':
                out[k] = ' '
    return ''.join(out)


PATH = r'[A-Za-z_][A-Za-z0-9_]*'


def expand_group(text):
    """`a, b::{c, d}, e::f` -> [['a'], ['b', 'c'], ['b', 'd'], ['e', 'f']]."""
    paths, depth, start, parts = [], 0, 0, []
    for i, c in enumerate(text + ','):
        if c == '{':
            depth += 1
        elif c == '}':
            depth -= 1
        elif c == ',' and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    for p in parts:
        if not p:
            continue
        m = re.match(r'((?:%s\s*::\s*)*)\{(.*)\}$' % PATH, p, re.S)
        if m:
            prefix = [x for x in re.split(r'\s*::\s*', m.group(1)) if x]
            for rest in expand_group(m.group(2)):
                paths.append(prefix + rest)
        else:
            seg = re.match(r'(%s(?:\s*::\s*%s)*)' % (PATH, PATH), p)
            if seg:
                paths.append(re.split(r'\s*::\s*', seg.group(1)))
    return paths


def references(code):
    """(offset, kind, segments) for every `crate::` / `super::` path; kind
    is 'crate' or the number of leading `super`s."""
    refs = []
    for m in re.finditer(r'(?<![\w$])(crate|(?:super\s*::\s*)*super)\s*::\s*', code):
        head = m.group(1)
        kind = 'crate' if head == 'crate' else head.count('super')
        rest = code[m.end():]
        if rest.startswith('{'):
            end = matching_brace(rest, 0)
            for p in expand_group(rest[1:end - 1]):
                refs.append((m.start(), kind, p))
        else:
            seg = re.match(r'(%s(?:\s*::\s*(?:%s|\{))*)' % (PATH, PATH), rest)
            if not seg:
                continue
            text = seg.group(1)
            if text.endswith('{'):
                # `crate::a::{b, c}`
                prefix = [x for x in re.split(r'\s*::\s*', text[:-1]) if x]
                end = matching_brace(rest, len(text) - 1)
                for p in expand_group(rest[len(text):end - 1]):
                    refs.append((m.start(), kind, prefix + p))
            else:
                refs.append((m.start(), kind, re.split(r'\s*::\s*', text)))
    return refs


def inline_modules(code):
    """Spans (start, end, name) of inline `mod NAME { ... }` blocks."""
    spans = []
    for m in re.finditer(r'\bmod\s+(%s)\s*\{' % PATH, code):
        spans.append((m.end() - 1, matching_brace(code, m.end() - 1), m.group(1)))
    return spans


# ---- the graph ------------------------------------------------------------

class Tree:
    """src/ as module paths: ('log', 'verify') for src/log/verify.rs."""

    def __init__(self, root):
        self.root = root
        self.files = {}  # module path tuple -> file path
        for d, dirs, fs in os.walk(root):
            rel = os.path.relpath(d, root)
            parts = () if rel == '.' else tuple(rel.split(os.sep))
            if parts[:1] == ('bin',):
                dirs[:] = []
                continue
            for f in fs:
                if not f.endswith('.rs'):
                    continue
                if parts == () and f in ('lib.rs', 'main.rs'):
                    mod = ()
                elif f == 'mod.rs':
                    mod = parts
                else:
                    mod = parts + (f[:-3],)
                self.files[mod] = os.path.join(d, f)
        self.modules = set(self.files)
        for m in list(self.files):
            for k in range(1, len(m)):
                self.modules.add(m[:k])

    def resolve(self, segments):
        """The longest prefix of `segments` that is a module of the tree
        (an item's path names the module that holds it)."""
        best = ()
        for k in range(1, len(segments) + 1):
            if tuple(segments[:k]) in self.modules:
                best = tuple(segments[:k])
            else:
                break
        return best


def analyse(root, layer_of):
    tree = Tree(root)
    findings = []
    top_edges = {}   # a -> {b: (file, line, text)}
    sib_edges = {}   # folder -> {a: {b: where}}
    tops = sorted({m[0] for m in tree.files if m})
    for t in tops:
        if t not in layer_of:
            f = tree.files.get((t,))
            findings.append(f'{f or os.path.join(root, t)}: module {t} is not in the layer table ({TABLE})')
    for mod, path in sorted(tree.files.items()):
        if not mod:
            continue
        src = open(path, encoding='utf-8', errors='replace').read()
        code = strip_test_items(blank_noncode(src))
        spans = inline_modules(code)
        is_mod_rs = os.path.basename(path) == 'mod.rs'
        for off, kind, segs in references(code):
            line = code.count('\n', 0, off) + 1
            if kind == 'crate':
                target = tree.resolve(segs)
            else:
                # The module this code is in: the file's, plus the inline
                # modules around the reference.
                here = list(mod) + [s[2] for s in spans if s[0] < off < s[1]]
                up = kind
                if up > len(here):
                    findings.append(f'{path}:{line}: super:: above the crate root')
                    continue
                base = here[:len(here) - up]
                target = tree.resolve(base + segs)
                if not target and base:
                    target = tuple(base)
                inline = len(here) - len(mod)
                if up <= inline:
                    continue  # within this file
            if not target:
                continue
            text = ('crate' if kind == 'crate' else '::'.join(['super'] * kind)) + '::' + '::'.join(segs)
            where = (path, line, text)
            a, b = mod[0], target[0]
            if a != b:
                top_edges.setdefault(a, {}).setdefault(b, where)
                la, lb = layer_of.get(a), layer_of.get(b)
                if la is not None and lb is not None and lb > la:
                    findings.append(f'{path}:{line}: {text}: {a} names {b}, a higher layer')
                continue
            # Within one top-level module: an edge between the two children
            # of the deepest folder holding both (mod.rs is the folder's own).
            k = 0
            while k < min(len(mod), len(target)) and mod[k] == target[k]:
                k += 1
            if k >= len(mod) or k >= len(target):
                continue  # a reference to an enclosing module or within the file
            folder = '/'.join(mod[:k])
            sib_edges.setdefault(folder, {}).setdefault(mod[k], {}).setdefault(target[k], where)
    n_cycles = 0
    for comp in sccs(top_edges):
        n_cycles += 1
        findings.append('module cycle: ' + ' -> '.join(comp) + ' | ' + describe(comp, top_edges))
    n_file_cycles = 0
    for folder in sorted(sib_edges):
        for comp in sccs(sib_edges[folder]):
            n_file_cycles += 1
            findings.append(f'file cycle in {folder}/: ' + ' -> '.join(comp) + ' | ' + describe(comp, sib_edges[folder]))
    upward = sum(1 for f in findings if 'a higher layer' in f)
    n_edges = sum(len(v) for v in top_edges.values())
    summary = (f'{len(tops)} modules, {n_edges} edges between them: {upward} upward references, '
               f'{n_cycles} module cycles, {n_file_cycles} file cycles')
    return findings, summary


def describe(comp, edges):
    out = []
    for a in comp:
        for b, (path, line, text) in sorted(edges.get(a, {}).items()):
            if b in comp:
                out.append(f'{a}->{b} ({path}:{line} {text})')
    return '; '.join(out)


def sccs(edges):
    nodes = sorted(set(edges) | {b for v in edges.values() for b in v})
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def check(root):
    findings, summary = analyse(root, read_table())
    for f in findings:
        print(f)
    print(summary)
    return 1 if findings else 0


# ---- the self-test: plant violations, see each one found -------------------

CLEAN = {
    'lib.rs': 'pub mod exit; pub mod digest; pub mod lists; pub mod log; pub mod fetch;',
    'exit.rs': '''
        // crate::fetch in a comment is not a reference
        pub const S: &str = "crate::fetch::x";
        pub fn c() -> char { '"' }
        #[cfg(test)]
        mod tests { use crate::fetch::anything; }
        macro_rules! m { () => { $crate::exit::c() } }
    ''',
    'digest.rs': 'use crate::exit::c; pub fn d<\'a>(x: &\'a str) -> &\'a str { x }',
    'lists/mod.rs': 'pub mod a; pub mod b; pub use a::A;',
    'lists/a.rs': 'use super::b::B; use crate::{digest, exit::c}; pub struct A;',
    'lists/b.rs': 'pub struct B; pub fn f() { let _ = crate::digest::d("x"); }',
    'log/mod.rs': 'pub mod store; pub mod verify;',
    'log/store.rs': 'use crate::lists::A; pub fn s() {}',
    'log/verify.rs': 'use super::store::s; pub fn v() { super::super::lists::b::f(); }',
    'fetch/mod.rs': 'use crate::log::verify::v; pub fn x() { crate::lists::b::f(); }',
}

PLANTS = [
    # (file, code appended, what must be found)
    ('exit.rs', 'pub fn up() { crate::fetch::x(); }', 'exit names fetch, a higher layer'),
    ('digest.rs', 'use crate::{exit, log::store};', 'digest names log, a higher layer'),
    ('lists/b.rs', 'pub fn g() { super::super::log::store::s(); }', 'lists names log, a higher layer'),
    ('lists/b.rs', 'use super::a::A;', 'file cycle in lists/: a -> b'),
    ('log/store.rs', 'fn w() { crate::log::verify::v(); }', 'file cycle in log/: store -> verify'),
    ('lists/a.rs', 'mod inner { fn f() { super::super::super::fetch::x(); } }', 'lists names fetch, a higher layer'),
    ('digest.rs', 'pub fn z() { let _ = crate::lists :: A; }', 'digest names lists, a higher layer'),
    ('exit.rs', '#[cfg(test)]\nfn t() {}\npub fn after() { crate::log::store::s(); }', 'exit names log, a higher layer'),
    ('log/store.rs', 'pub mod extra;', None),  # a sibling that is no file: nothing
    ('newmod.rs', 'pub fn n() {}', 'module newmod is not in the layer table'),
]

TABLE_SELF = {'exit': 0, 'digest': 1, 'lists': 2, 'log': 3, 'fetch': 4, 'bin': 5}


def plant(files):
    d = tempfile.mkdtemp(prefix='layers-selftest-')
    for name, text in files.items():
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
    return d


def self_test():
    import shutil
    failures = []
    d = plant(CLEAN)
    try:
        findings, _ = analyse(d, TABLE_SELF)
        if findings:
            failures.append('the clean tree has findings: ' + '; '.join(findings))
    finally:
        shutil.rmtree(d)
    for name, code, want in PLANTS:
        files = dict(CLEAN)
        files[name] = files.get(name, '') + '\n' + code
        d = plant(files)
        try:
            findings, _ = analyse(d, TABLE_SELF)
        finally:
            shutil.rmtree(d)
        text = '\n'.join(findings)
        if want is None:
            if findings:
                failures.append(f'{name} + {code!r}: unexpected {text}')
        elif want not in text:
            failures.append(f'{name} + {code!r}: expected "{want}", got: {text or "nothing"}')
    for f in failures:
        print('layers self-test:', f)
    print(f'layers self-test: {len(PLANTS) + 1 - len(failures)} of {len(PLANTS) + 1} cases as expected')
    return 1 if failures else 0


def main(argv):
    args = argv[1:]
    if args[:1] == ['--check']:
        return check(args[1] if len(args) > 1 else 'src')
    if args[:1] == ['--self-test']:
        return self_test()
    root = args[0] if args else os.path.join(os.path.dirname(HERE), 'src')
    return self_test() or check(root)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
