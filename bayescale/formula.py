"""Safe formulas for scaling laws: parsed with a whitelist, evaluated on NumPy or PyTensor.

A formula such as ``E + A * N**-alpha + B / D**beta`` is parsed into a small tree of our own
node types. Python's :mod:`ast` is used only to *parse* the text; nothing is ever evaluated
by Python itself, and any construct outside the whitelist (attribute access, subscripts,
calls of unknown functions, strings, comprehensions, names starting with ``_`` ...) is
refused with a :class:`~bayescale.errors.FormulaError`.

The same tree evaluates two ways, on either backend (see :data:`NUMPY` and :func:`pytensor_ops`):

- :meth:`Formula.evaluate` computes the value as written;
- :meth:`Formula.log_evaluate` computes ``log(value)`` in a numerically stable form: sums of
  positive terms become ``logaddexp`` reductions, products become sums of logs and powers
  become ``exponent * log(base)``. Scaling laws are sums and products of positive terms, so
  N ~ 1e12 or C ~ 1e25 never meet an overflow or a cancellation, and the sampler sees a
  well-conditioned log-density. Where a sub-expression may not be positive (a subtraction,
  a negative constant, a parameter with a real-valued prior), that sub-expression alone is
  computed as written and its logarithm taken.

Limits, so that no formula can exhaust the stack or the memory, or hang the parser: at most
:data:`MAX_FORMULA_LENGTH` characters and :data:`MAX_DEPTH` levels of nesting (parentheses,
operators, calls). Operations on numbers alone are computed once, when the formula is read,
in float64 like every evaluation: a constant that overflows (``10**400``), divides by zero
or is not a number (``(-8)**0.5``) is refused there, never met by the sampler.
"""

from __future__ import annotations

import ast
import functools
import keyword
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bayescale.errors import FormulaError

if TYPE_CHECKING:
    from bayescale.structure import Structure

__all__ = ["CONSTANTS", "FUNCTIONS", "NUMPY", "Formula", "Ops", "pytensor_ops"]

#: Longest formula, in characters: far above any scaling law, far below a parser's limits.
MAX_FORMULA_LENGTH = 2000
#: Deepest nesting of parentheses, and of operators and calls in the parsed tree (a chain
#: of sums or of products, ``a + b + c``, is one level however long).
MAX_DEPTH = 60
#: Most terms of one sum, or factors of one product, written as a chain (``a + b + ...``).
MAX_TERMS = 200
#: Longest excerpt of a formula quoted in an error message (messages stay one short line).
_SHOWN_LENGTH = 60

#: Names that are numbers in every formula, never parameters: ``sqrt(2*pi)`` is fitted as
#: nothing. Only ``pi``: ``e`` is too common a parameter's name to take from users.
CONSTANTS: dict[str, float] = {"pi": math.pi}

#: Functions a formula may call, with the number of arguments each takes (None: one or more).
FUNCTIONS: dict[str, int | None] = {
    "log": 1,
    "exp": 1,
    "sqrt": 1,
    "log1p": 1,
    "expm1": 1,
    "softplus": 1,
    "logaddexp": 2,
    "logsumexp": None,
    "minimum": 2,
    "maximum": 2,
}


# --------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / **
    left: Any
    right: Any


@dataclass(frozen=True)
class Neg:
    operand: Any


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Any, ...]


Node = Num | Name | BinOp | Neg | Call

_BINOPS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}


# --------------------------------------------------------------------------- backends


@dataclass(frozen=True)
class Ops:
    """The elementary functions a formula needs, for one array backend."""

    log: Callable[[Any], Any]
    exp: Callable[[Any], Any]
    sqrt: Callable[[Any], Any]
    log1p: Callable[[Any], Any]
    expm1: Callable[[Any], Any]
    logaddexp: Callable[[Any, Any], Any]
    minimum: Callable[[Any, Any], Any]
    maximum: Callable[[Any, Any], Any]

    def softplus(self, x: Any) -> Any:
        """``log(1 + exp(x))`` without overflow."""
        return self.logaddexp(0.0, x)

    def logsumexp(self, *xs: Any) -> Any:
        """``log(sum(exp(x)))`` of the arguments, broadcasting them."""
        return functools.reduce(self.logaddexp, xs)


#: NumPy backend, for forecasts over posterior draws.
NUMPY = Ops(
    log=np.log,
    exp=np.exp,
    sqrt=np.sqrt,
    log1p=np.log1p,
    expm1=np.expm1,
    logaddexp=np.logaddexp,
    minimum=np.minimum,
    maximum=np.maximum,
)


@functools.cache
def pytensor_ops() -> Ops:
    """Return the PyTensor backend, used to build the sampling graph.

    Returns
    -------
    Ops
        Elementary functions on PyTensor tensors (imported lazily: PyTensor is slow to import).
    """
    import pytensor.tensor as pt

    return Ops(
        log=pt.log,
        exp=pt.exp,
        sqrt=pt.sqrt,
        log1p=pt.log1p,
        expm1=pt.expm1,
        logaddexp=pt.logaddexp,
        minimum=pt.minimum,
        maximum=pt.maximum,
    )


# --------------------------------------------------------------------------- parsing


def _shown(text: str) -> str:
    """Quote a formula for an error message, shortened when long (messages are one line)."""
    if len(text) <= _SHOWN_LENGTH:
        return repr(text)
    return repr(text[: _SHOWN_LENGTH - 3] + "...")


def _too_deep(text: str) -> FormulaError:
    return FormulaError(
        f"formula {_shown(text)} is nested more than {MAX_DEPTH} levels deep; "
        f"write it with fewer nested parentheses, operators and calls"
    )


def _too_many_terms(text: str) -> FormulaError:
    return FormulaError(
        f"formula {_shown(text)} has a sum or product of more than {MAX_TERMS} terms; a "
        f"scaling law has far fewer: write it with fewer terms"
    )


#: Operators that chain at one level: a sum (or difference), a product (or quotient).
_CHAINS = ({"+", "-"}, {"*", "/"})


def _chained(op: str, child: Any) -> bool:
    """Whether ``child`` (our node or Python's) continues the chain of ``op`` on its left."""
    if isinstance(child, ast.BinOp):
        child_op = _BINOPS.get(type(child.op))
    elif isinstance(child, BinOp):
        child_op = child.op
    else:
        return False
    return any(op in chain and child_op in chain for chain in _CHAINS)


def _bracket_depth(text: str) -> int:
    """Deepest nesting of parentheses (and brackets), counted before Python parses the text."""
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _fold(node: BinOp | Call, where: str) -> Node:
    """Replace an operation on numbers alone by its value, or refuse a value that is not finite.

    Computed in float64, as every evaluation is: a power of floats takes constant time (a
    Python integer power such as ``9**9**9**9`` would never finish), and an overflow, a
    division by zero or an invalid operation is reported here, when the formula is read,
    instead of producing ``inf`` or ``nan`` in every evaluation.
    """
    args = (node.left, node.right) if isinstance(node, BinOp) else node.args
    if not all(isinstance(arg, Num) for arg in args):
        return node
    values = [np.float64(arg.value) for arg in args]
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            if isinstance(node, BinOp):
                value = _apply(node.op, *values)
            else:
                value = getattr(NUMPY, node.func)(*values)
    except FloatingPointError as err:
        raise FormulaError(
            f"{where}: the constant {_unparse(node)} cannot be computed ({err}); "
            f"a formula's constants must be finite numbers, within +-1.8e308"
        ) from None
    return Num(float(value))


#: Operators outside the whitelist, as a user would name them.
_OPERATOR_NAMES: dict[type, str] = {
    ast.FloorDiv: "floor division //",
    ast.Mod: "the remainder %",
    ast.MatMult: "matrix product @",
    ast.LShift: "shift <<",
    ast.RShift: "shift >>",
    ast.BitOr: "bitwise or |",
    ast.BitAnd: "bitwise and &",
    ast.BitXor: "xor",
    ast.Invert: "bitwise not ~",
    ast.Not: "'not'",
    ast.And: "'and'",
    ast.Or: "'or'",
    ast.Eq: "comparison ==",
    ast.NotEq: "comparison !=",
    ast.Lt: "comparison <",
    ast.LtE: "comparison <=",
    ast.Gt: "comparison >",
    ast.GtE: "comparison >=",
    ast.Is: "'is'",
    ast.IsNot: "'is not'",
    ast.In: "'in'",
    ast.NotIn: "'not in'",
}


def _convert(node: ast.AST, text: str, depth: int = 0, terms: int = 1) -> Node:
    if depth > MAX_DEPTH:
        raise _too_deep(text)
    where = f"in formula {_shown(text)}"
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaError(
                f"{where}: only numbers are allowed as constants, not {node.value!r}"
            )
        try:
            value = float(node.value)
        except OverflowError:  # an integer literal beyond the float range
            value = float("inf")
        if not np.isfinite(value):
            raise FormulaError(f"{where}: the number {node.value!r} is not finite")
        return Num(value)
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise FormulaError(f"{where}: names may not start with '_' ({node.id!r})")
        if node.id in FUNCTIONS:
            raise FormulaError(f"{where}: {node.id!r} is a function; call it as {node.id}(...)")
        if node.id in CONSTANTS:
            return Num(CONSTANTS[node.id])
        return Name(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        op = _BINOPS[type(node.op)]
        if terms + 1 > MAX_TERMS:  # this operation adds a term to the chain it is in
            raise _too_many_terms(text)
        # a + b + c is ((a + b) + c): the chain on the left stays at this level.
        left = (
            _convert(node.left, text, depth, terms + 1)
            if _chained(op, node.left)
            else _convert(node.left, text, depth + 1)
        )
        binop = BinOp(op, left, _convert(node.right, text, depth + 1))
        return _fold(binop, where)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _convert(node.operand, text, depth + 1)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(operand, Num):
            return Num(-operand.value)
        return Neg(operand)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise FormulaError(
                f"{where}: only the functions {', '.join(sorted(FUNCTIONS))} may be called"
            )
        name = node.func.id
        if name not in FUNCTIONS:
            raise FormulaError(
                f"{where}: function {name!r} is not allowed; "
                f"allowed: {', '.join(sorted(FUNCTIONS))}"
            )
        if node.keywords:
            raise FormulaError(f"{where}: {name}() takes no keyword arguments")
        arity = FUNCTIONS[name]
        nargs = len(node.args)
        if (arity is None and nargs < 1) or (arity is not None and nargs != arity):
            wanted = "one or more" if arity is None else str(arity)
            raise FormulaError(f"{where}: {name}() takes {wanted} argument(s), got {nargs}")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise FormulaError(f"{where}: {name}() does not take *arguments")
        call = Call(name, tuple(_convert(arg, text, depth + 1) for arg in node.args))
        return _fold(call, where)
    if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Compare | ast.BoolOp):
        ops = node.ops if isinstance(node, ast.Compare) else [node.op]
        named = [_OPERATOR_NAMES.get(type(op), type(op).__name__) for op in ops]
        raise FormulaError(
            f"{where}: {named[0]} is not allowed; a formula's operators are + - * / and ** "
            f"(or ^) for a power"
        )
    kind = type(node).__name__
    hint = ""
    if isinstance(node, ast.Attribute):
        hint = " (attribute access)"
    elif isinstance(node, ast.Subscript):
        hint = " (indexing)"
    raise FormulaError(
        f"{where}: {kind}{hint} is not allowed; a formula may use numbers, names, "
        f"+ - * / ** (or ^), parentheses and the functions {', '.join(sorted(FUNCTIONS))}"
    )


def _names(node: Node) -> set[str]:
    if isinstance(node, Name):
        return {node.id}
    if isinstance(node, BinOp):
        return _names(node.left) | _names(node.right)
    if isinstance(node, Neg):
        return _names(node.operand)
    if isinstance(node, Call):
        return set().union(*(_names(arg) for arg in node.args))
    return set()


def _unparse(node: Node) -> str:
    if isinstance(node, Num):
        # Whole numbers without '.0', unless large: repr keeps 1e308 short and exact.
        whole = node.value == int(node.value) and abs(node.value) < 1e16
        text = str(int(node.value)) if whole else repr(node.value)
        # Parenthesised when negative: '(-1) ** N' is not '-1 ** N', which is -(1 ** N).
        return f"({text})" if node.value < 0 else text
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Neg):
        return f"(-{_unparse(node.operand)})"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(_unparse(a) for a in node.args)})"
    return f"({_unparse(node.left)} {node.op} {_unparse(node.right)})"


# --------------------------------------------------------------------------- evaluation


def _apply(op: str, left: Any, right: Any) -> Any:
    """Apply a binary operator (one of + - * / **) on either backend."""
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right
    return left**right


def _linear(node: Node, env: Mapping[str, Any], ops: Ops) -> Any:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        return env[node.id]
    if isinstance(node, Neg):
        return -_linear(node.operand, env, ops)
    if isinstance(node, Call):
        args = [_linear(arg, env, ops) for arg in node.args]
        return getattr(ops, node.func)(*args)
    return _apply(node.op, _linear(node.left, env, ops), _linear(node.right, env, ops))


def _additive_terms(node: Node) -> list[Node]:
    if isinstance(node, BinOp) and node.op == "+":
        return _additive_terms(node.left) + _additive_terms(node.right)
    return [node]


def _stable(node: Node, positive: frozenset[str] | set[str]) -> bool:
    """Whether ``log(node)`` can be built from logs of parts known to be positive.

    Decided from the structure alone, before anything is computed, so that a sum with a
    term that may be zero (``1 - exp(-x)`` at ``x = 0``) is computed as written as a whole
    and never as a ``logaddexp`` of a ``log(0)``.
    """
    if isinstance(node, Num):
        return node.value > 0
    if isinstance(node, Name):
        return node.id in positive
    if isinstance(node, Call):
        if node.func == "exp":
            return True
        if node.func in ("sqrt", "minimum", "maximum"):
            return all(_stable(arg, positive) for arg in node.args)
        return False
    if isinstance(node, BinOp):
        if node.op in ("+", "*", "/"):
            return _stable(node.left, positive) and _stable(node.right, positive)
        if node.op == "**":
            return _stable(node.left, positive)
    return False


def _log(node: Node, env: Mapping[str, Any], log_env: Mapping[str, Any], ops: Ops) -> Any:
    """Return ``log(value)``, from logs of positive parts wherever the structure allows."""
    if not _stable(node, log_env.keys()):
        positive = log_env.keys()
        if (
            isinstance(node, BinOp)
            and node.op in ("*", "/")
            and (_stable(node.left, positive) or _stable(node.right, positive))
        ):
            # A product stays a sum of logs when one factor must be computed as written and
            # the other is positive (two negative factors make a positive product).
            left, right = _log(node.left, env, log_env, ops), _log(node.right, env, log_env, ops)
            return left + right if node.op == "*" else left - right
        if (
            isinstance(node, BinOp)
            and node.op == "**"
            and not (isinstance(node.right, Num) and node.right.value == int(node.right.value))
        ):
            # Not for a whole-number power: (-2)**2 is positive, 2 * log(-2) is not a number.
            return _linear(node.right, env, ops) * _log(node.left, env, log_env, ops)
        return ops.log(_linear(node, env, ops))
    if isinstance(node, Num):
        return float(np.log(node.value))
    if isinstance(node, Name):
        return log_env[node.id]
    if isinstance(node, Call):
        if node.func == "exp":
            return _linear(node.args[0], env, ops)
        logs = [_log(arg, env, log_env, ops) for arg in node.args]
        return 0.5 * logs[0] if node.func == "sqrt" else getattr(ops, node.func)(*logs)
    if node.op == "+":
        return ops.logsumexp(*(_log(term, env, log_env, ops) for term in _additive_terms(node)))
    left = _log(node.left, env, log_env, ops)
    if node.op == "**":
        return _linear(node.right, env, ops) * left
    right = _log(node.right, env, log_env, ops)
    return left + right if node.op == "*" else left - right


def _value(node: Node, env: Mapping[str, Any], log_env: Mapping[str, Any], ops: Ops) -> Any:
    """Return the value, each positive term of a sum as ``exp`` of its stable log form.

    One ``exp`` per term, instead of the ``logaddexp`` chain of :func:`_log`: the cheap way to
    evaluate a law over (points x draws) in NumPy, with no overflowing power.
    """
    if not _stable(node, log_env.keys()):
        return _linear(node, env, ops)
    if isinstance(node, BinOp) and node.op == "+":
        terms = [_value(term, env, log_env, ops) for term in _additive_terms(node)]
        return functools.reduce(lambda a, b: a + b, terms)
    return ops.exp(_log(node, env, log_env, ops))


#: Most nodes of a formula once its intermediates are substituted: a chain of intermediates
#: that each use the previous one twice doubles the tree at every step.
MAX_NODES = 5000

_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)(.*)$", re.DOTALL)


def _statements(text: str) -> list[str]:
    """Split a formula into statements at ``;`` and line ends outside parentheses.

    Blank lines are skipped; an empty statement between semicolons (``a;;b``, a leading or
    trailing ``;``) is refused: it is most likely a deleted definition.
    """
    pieces: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if depth <= 0 and char in ";\n":
            pieces.append("".join(current))
            current = []
            if char == ";":
                pieces.append(";")
            continue
        current.append(char)
    pieces.append("".join(current))
    meaningful = [piece for piece in pieces if piece == ";" or piece.strip()]
    for before, after in zip([";", *meaningful], [*meaningful, None], strict=True):
        if after == ";" and before == ";":
            raise FormulaError(
                f"formula {_shown(text)} has an empty statement (';' with nothing before "
                f"it); separate statements with one ';'"
            )
    if meaningful and meaningful[-1] == ";":
        raise FormulaError(
            f"formula {_shown(text)} ends with ';'; its last statement must be the law's expression"
        )
    statements = [piece.strip() for piece in meaningful if piece != ";"]
    return statements


def _syntax_hint(source: str, err: SyntaxError) -> str:
    """Python's syntax error, said for a formula: a keyword used as a name, where it is."""
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source)
    reserved = next((w for w in words if keyword.iskeyword(w)), None)
    if reserved is not None:
        other = {"lambda": "lam"}.get(reserved, f"{reserved}_")
        return (
            f"{reserved!r} is a Python keyword and cannot name a parameter or input; "
            f"rename it (e.g. {other})"
        )
    stripped = source.strip()
    if "***" in stripped:
        column = stripped.index("***") + 1
        return f"'***' at column {column} is not an operator; write ** (or ^) for a power"
    if err.offset is None or err.offset <= 1 or not stripped:
        return str(err.msg)
    column = max(1, min(err.offset, len(stripped)))
    near = stripped[column - 1 : column + 9]
    return f"{err.msg} at column {column} ({near!r}) of {_shown(stripped)}"


def _parse_expression(source: str, text: str) -> Node:
    """Parse one expression of ``text`` (already with ``^`` as ``**``) into our nodes."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as err:
        raise FormulaError(
            f"formula {_shown(text)} is not valid: {_syntax_hint(source, err)}"
        ) from None
    except (ValueError, RecursionError, MemoryError):
        raise FormulaError(f"formula {_shown(text)} cannot be parsed") from None
    try:
        return _convert(tree.body, text)
    except RecursionError:
        raise _too_deep(text) from None


def _substitute(node: Node, values: Mapping[str, Node], where: str) -> Node:
    """Replace intermediate names by their trees, folding operations on numbers alone."""
    if isinstance(node, Name):
        return values.get(node.id, node)
    if isinstance(node, Neg):
        operand = _substitute(node.operand, values, where)
        return Num(-operand.value) if isinstance(operand, Num) else Neg(operand)
    if isinstance(node, BinOp):
        left = _substitute(node.left, values, where)
        right = _substitute(node.right, values, where)
        return _fold(BinOp(node.op, left, right), where)
    if isinstance(node, Call):
        return _fold(
            Call(node.func, tuple(_substitute(a, values, where) for a in node.args)), where
        )
    return node


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    return ()


def _size_and_depth(node: Node) -> tuple[int, int, int]:
    """Nodes, depth and longest chain of the tree, once per shared subtree (fast on any chain).

    The depth counts a chain of sums or products (``a + b + c``) as one level; the longest
    chain is its number of terms.
    """
    # Per node: size, depth, terms of the chain it ends, longest chain in its subtree.
    memo: dict[int, tuple[int, int, int, int]] = {}

    def visit(n: Node) -> tuple[int, int, int, int]:
        key = id(n)
        if key not in memo:
            sizes = [visit(child) for child in _children(n)]
            chain = isinstance(n, BinOp) and _chained(n.op, n.left)
            depths = [d if chain and i == 0 else d + 1 for i, (_, d, _, _) in enumerate(sizes)]
            own = (sizes[0][2] + 1 if chain else 2) if isinstance(n, BinOp) else 1
            memo[key] = (
                1 + sum(s for s, _, _, _ in sizes),
                max(depths, default=1),
                own,
                max([own] + [longest for _, _, _, longest in sizes]),
            )
        return memo[key]

    size, depth, _, longest = visit(node)
    return size, depth, longest


def _parse_statements(text: str) -> tuple[Node, tuple[str, ...]]:
    """Parse a formula with named intermediates into one substituted tree.

    Returns the tree and the intermediates' names, in the order they are defined.
    """
    source = text.replace("^", "**")
    statements = _statements(source)
    if len(statements) == 1 and not _ASSIGNMENT.match(statements[0]):
        return _parse_expression(statements[0], text), ()
    where = f"in formula {_shown(text)}"
    defined: dict[str, Node] = {}
    order: list[str] = []
    used: set[str] = set()
    free_so_far: set[str] = set()
    trees = []
    for number, statement in enumerate(statements, start=1):
        match = _ASSIGNMENT.match(statement)
        last = number == len(statements)
        if match and last:
            raise FormulaError(
                f"{where}: the last statement ({match.group(1)} = ...) is an assignment; "
                f"end with the law's expression, e.g. '{match.group(1)}'"
            )
        if not match and not last:
            raise FormulaError(
                f"{where}: statement {number} ({_shown(statement)}) is not an assignment; "
                f"every statement but the last defines an intermediate, like 'Ls = E + A / N**a'"
            )
        body = match.group(2) if match else statement
        if not body.strip():
            raise FormulaError(f"{where}: statement {number} ({statement!r}) has nothing after '='")
        tree = _parse_expression(body, text)
        names = _names(tree)
        later = sorted(
            n
            for n in names
            if n not in defined
            and any((_ASSIGNMENT.match(s) or [None, None])[1] == n for s in statements[number:])
        )
        if later:
            raise FormulaError(
                f"{where}: {later[0]!r} is used in statement {number} before it is defined; "
                f"define an intermediate before the statements that use it"
            )
        used |= names & set(defined)
        free_so_far |= names - set(defined)
        if match:
            target = match.group(1)
            if target.startswith("_") or keyword.iskeyword(target):
                raise FormulaError(f"{where}: {target!r} cannot name an intermediate")
            if target in FUNCTIONS:
                raise FormulaError(
                    f"{where}: {target!r} is a function; give the intermediate another name"
                )
            if target in defined:
                raise FormulaError(
                    f"{where}: the intermediate {target!r} is defined twice; give the second "
                    f"one another name"
                )
            if target in free_so_far:
                raise FormulaError(
                    f"{where}: {target!r} is used as an input or parameter and also defined as "
                    f"an intermediate; give the intermediate another name"
                )
            defined[target] = _substitute(tree, defined, where)
            order.append(target)
        trees.append(tree)
    unused = [n for n in order if n not in used]
    if unused:
        raise FormulaError(
            f"{where}: the intermediate {unused[0]!r} is defined but never used; use it or "
            f"remove its definition"
        )
    final = _substitute(trees[-1], defined, where)
    size, depth, terms = _size_and_depth(final)
    if terms > MAX_TERMS:
        raise _too_many_terms(text)
    if size > MAX_NODES:
        raise FormulaError(
            f"{where}: with its intermediates substituted the formula has {size} nodes, more "
            f"than {MAX_NODES}; an intermediate used many times in a chain multiplies the size"
        )
    if depth > MAX_DEPTH:
        raise _too_deep(text)
    return final, tuple(order)


@dataclass(frozen=True)
class Formula:
    """A parsed, whitelisted formula, possibly with named intermediate expressions.

    Statements are separated by ``;`` or line ends (outside parentheses); every statement but
    the last defines an intermediate (``Ls = E + A / N**alpha``), the last is the law's value
    (``Ls * (1 + B / D**beta)``). Intermediates are substituted into the last statement, so
    every evaluation sees one expression tree.

    Parameters
    ----------
    text : str
        The formula as the user wrote it. ``^`` is read as a power, like ``**``.

    Raises
    ------
    FormulaError
        If the text is empty, too long, not valid syntax, or uses anything outside the
        whitelist (see :data:`FUNCTIONS`); if an intermediate is used before it is defined,
        defined twice, named like a function, input or parameter, or never used; if the
        last statement is an assignment; if a statement is empty; or if the substituted
        tree has more than :data:`MAX_NODES` nodes or :data:`MAX_DEPTH` levels.

    Examples
    --------
    >>> f = Formula("E + A * N**-alpha")
    >>> sorted(f.names)
    ['A', 'E', 'N', 'alpha']
    >>> float(f.evaluate({"E": 1.0, "A": 2.0, "N": 4.0, "alpha": 0.5}))
    2.0
    >>> g = Formula("Ls = E + A / N**alpha; Ls * (1 + B / D**beta)")
    >>> g.intermediates, sorted(g.names)
    (('Ls',), ['A', 'B', 'D', 'E', 'N', 'alpha', 'beta'])
    """

    text: str

    def __post_init__(self) -> None:
        tree, intermediates = self._parse(self.text)
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_intermediates", intermediates)

    @staticmethod
    def _parse(text: str) -> tuple[Node, tuple[str, ...]]:
        if not isinstance(text, str) or not text.strip():
            raise FormulaError("the formula is empty; write it like 'E + A * N**-alpha'")
        if len(text) > MAX_FORMULA_LENGTH:
            raise FormulaError(
                f"formula {_shown(text)} is {len(text)} characters long, more than "
                f"{MAX_FORMULA_LENGTH}; a scaling law is a short formula"
            )
        # Refused before Python's parser meets them (its own limit gives a cryptic message).
        if _bracket_depth(text) > MAX_DEPTH:
            raise _too_deep(text)
        # '^' is how papers write powers; in Python it is XOR and binds looser than '+'.
        return _parse_statements(text)

    @property
    def intermediates(self) -> tuple[str, ...]:
        """Names of the intermediate expressions, in the order they are defined."""
        return self._intermediates  # type: ignore[attr-defined]

    @property
    def tree(self) -> Node:
        """The parsed expression tree."""
        return self._tree  # type: ignore[attr-defined]

    @property
    def names(self) -> frozenset[str]:
        """Every free name the formula uses (inputs and parameters)."""
        return frozenset(_names(self.tree))

    def canonical(self) -> str:
        """Return the formula fully parenthesised, as it was understood."""
        return _unparse(self.tree)

    def _check_env(self, env: Mapping[str, Any]) -> None:
        missing = sorted(self.names - set(env))
        if missing:
            raise FormulaError(
                f"formula {_shown(self.text)} needs values for {', '.join(missing)}; "
                f"given: {', '.join(sorted(env)) or 'nothing'}"
            )

    def evaluate(self, env: Mapping[str, Any], ops: Ops = NUMPY) -> Any:
        """Evaluate the formula as written.

        Parameters
        ----------
        env : mapping of str to array-like
            A value for every name in :attr:`names`; arrays broadcast together.
        ops : Ops, default NUMPY
            The backend (:data:`NUMPY` or :func:`pytensor_ops`).

        Returns
        -------
        array-like
            The formula's value, broadcast over the inputs.
        """
        self._check_env(env)
        return _linear(self.tree, env, ops)

    def log_evaluate(
        self,
        env: Mapping[str, Any],
        log_env: Mapping[str, Any] | None = None,
        ops: Ops = NUMPY,
    ) -> Any:
        """Evaluate ``log(formula)`` in a numerically stable form.

        Parameters
        ----------
        env : mapping of str to array-like
            A value for every name in :attr:`names`.
        log_env : mapping of str to array-like, optional
            ``log`` of the names known to be positive (inputs, positive parameters). A name
            missing here is treated as possibly non-positive. Defaults to ``{}``.
        ops : Ops, default NUMPY
            The backend.

        Returns
        -------
        array-like
            ``log`` of the formula's value; NaN where the value is not positive.
        """
        self._check_env(env)
        return _log(self.tree, env, log_env or {}, ops)

    def stable_evaluate(
        self,
        env: Mapping[str, Any],
        log_env: Mapping[str, Any] | None = None,
        ops: Ops = NUMPY,
    ) -> Any:
        """Evaluate the formula, each positive term of a sum from its stable log form.

        Parameters
        ----------
        env, log_env, ops
            As in :meth:`log_evaluate`.

        Returns
        -------
        array-like
            The formula's value (as :meth:`evaluate`, without overflowing powers).
        """
        self._check_env(env)
        return _value(self.tree, env, log_env or {}, ops)

    def structure(self, inputs: Iterable[str]) -> Structure:
        """Read the roles of the parameters from the formula's structure, not their names.

        Parameters
        ----------
        inputs : iterable of str
            The formula's inputs (N, D, C, ...); every other free name is a parameter.

        Returns
        -------
        Structure
            Floor, roles, amplitudes, inputs that must be positive and decay exponents.

        Examples
        --------
        >>> s = Formula("E + A / N**alpha").structure(["N"])
        >>> s.floor, s.roles["alpha"], s.amplitudes["A"]
        ('E', 'exponent', ('N', 'alpha'))
        """
        from bayescale.structure import analyse

        return analyse(self.tree, frozenset(inputs) & self.names, self.names)
