import re, sys

def split_args(s):
    # split top-level comma separated args
    out, depth, cur = [], 0, ''
    i = 0
    in_str = None
    while i < len(s):
        c = s[i]
        if in_str:
            cur += c
            if c == '\\':
                cur += s[i+1]; i += 2; continue
            if c == in_str: in_str = None
        elif c in '"\'`':
            in_str = c; cur += c
        elif c in '([{':
            depth += 1; cur += c
        elif c in ')]}':
            depth -= 1; cur += c
        elif c == ',' and depth == 0:
            out.append(cur); cur = ''
        else:
            cur += c
        i += 1
    if cur.strip(): out.append(cur)
    return out

def find_close(s, start):
    # s[start] == '(' ; return index of matching ')'
    depth = 0; in_str = None; i = start
    while i < len(s):
        c = s[i]
        if in_str:
            if c == '\\': i += 2; continue
            if c == in_str: in_str = None
        elif c in '"\'`': in_str = c
        elif c in '([{': depth += 1
        elif c in ')]}':
            depth -= 1
            if depth == 0: return i
        i += 1
    raise Exception("unbalanced")

def rewrite_call(s, name, fn):
    idx = 0
    while True:
        j = s.find(name + '(', idx)
        if j < 0: return s
        # ensure not part of a longer identifier
        if j > 0 and (s[j-1].isalnum() or s[j-1] == '_'):
            idx = j + 1; continue
        open_ = j + len(name)
        close = find_close(s, open_)
        inner = s[open_+1:close]
        rep = fn(inner)
        if rep is None:
            idx = j + 1; continue
        s = s[:j] + rep + s[close+1:]
        idx = j + 1

def literal(inner):
    args = [a.strip() for a in split_args(inner)]
    return 'Schema.Literals([' + ', '.join(args) + '])'

def union(inner):
    if inner.strip().startswith('['): return None
    args = [a.strip() for a in split_args(inner)]
    return 'Schema.Union([' + ', '.join(args) + '])'

def optionalWith(inner):
    args = split_args(inner)
    if len(args) == 2 and re.fullmatch(r'\s*\{\s*exact:\s*true\s*\}\s*', args[1]):
        return 'Schema.optionalKey(' + args[0].strip() + ')'
    return None

def record(inner):
    m = re.fullmatch(r'\s*\{\s*key:\s*(.*?),\s*value:\s*(.*?)\s*\}\s*', inner, re.S)
    if not m: return None
    return 'Schema.Record(' + m.group(1) + ', ' + m.group(2) + ')'

FILTERS = {
    'Schema.trimmed': lambda a: 'Schema.isTrimmed()',
    'Schema.lowercased': lambda a: 'Schema.isLowercased()',
    'Schema.minLength': lambda a: f'Schema.isMinLength({a[0]})',
    'Schema.maxLength': lambda a: f'Schema.isMaxLength({a[0]})',
    'Schema.minItems': lambda a: f'Schema.isMinLength({a[0]})',
    'Schema.maxItems': lambda a: f'Schema.isMaxLength({a[0]})',
    'Schema.between': lambda a: f'Schema.isBetween({{ minimum: {a[0]}, maximum: {a[1]} }})',
    'Schema.positive': lambda a: 'Schema.isGreaterThan(0)',
    'Schema.nonNegative': lambda a: 'Schema.isGreaterThanOrEqualTo(0)',
}

def pipe_filters(s):
    # X.pipe(f1(), f2()) where all args are known filters -> X.check(...)
    idx = 0
    while True:
        j = s.find('.pipe(', idx)
        if j < 0: return s
        open_ = j + len('.pipe')
        close = find_close(s, open_)
        args = [a.strip() for a in split_args(s[open_+1:close])]
        new = []
        ok = True
        for a in args:
            m = re.fullmatch(r'(Schema\.\w+)\((.*)\)', a, re.S)
            if not m or m.group(1) not in FILTERS: ok = False; break
            new.append(FILTERS[m.group(1)]([x.strip() for x in split_args(m.group(2))]))
        if ok and args:
            s = s[:j] + '.check(' + ', '.join(new) + ')' + s[close+1:]
        idx = j + 1

for p in sys.argv[1:]:
    s = open(p).read()
    s = rewrite_call(s, 'Schema.Literal', literal)
    s = rewrite_call(s, 'Schema.Union', union)
    s = rewrite_call(s, 'Schema.optionalWith', optionalWith)
    s = rewrite_call(s, 'Schema.Record', record)
    s = pipe_filters(s)
    s = s.replace('.annotations(', '.annotate(')
    s = re.sub(r'\bEither\.Either<', 'Result.Result<', s)
    s = s.replace('Either.left(', 'Result.fail(').replace('Either.right(', 'Result.succeed(')
    s = s.replace('Either.map(', 'Result.map(').replace('Either.flatMap(', 'Result.flatMap(')
    s = s.replace('Either.void', 'Result.void').replace('Either.getOrElse(', 'Result.getOrElse(')
    s = s.replace('Either.isRight(', 'Result.isSuccess(').replace('Either.isLeft(', 'Result.isFailure(')
    s = re.sub(r'import \{ Either, ', 'import { Result, ', s)
    s = re.sub(r'import type \{ Either, ', 'import type { Result, ', s)
    open(p, 'w').write(s)
