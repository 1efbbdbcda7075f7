"""Safe formula parsing: text like ``"3*a**3 - b**2"`` -> a graphc graph of placeholders.

The text is parsed with Python's ``ast`` module and *walked*, never evaluated:
only numbers, variable names, ``+ - * / **``, unary ``+``/``-`` and calls to a
fixed whitelist of graphc functions are accepted. Anything else (attributes,
subscripts, strings, lambdas, keyword arguments, dunder names...) is refused
with a ``FormulaError`` before any graph is built, so a formula can never run
Python code: ``__import__('os').system(...)`` is a call of a function that is
not on the list, and is rejected as such.

>>> from graphc.formula import parse_formula
>>> import graphc as gc
>>> f = parse_formula("3*a**3 - b**2")
>>> sorted(f.variables)
['a', 'b']
>>> gc.expr(gc.grad(f.output, f.variables["a"]))
9*a**2
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from . import api, nn
from .bind import OPS
from .errors import GraphcError
from .ir import Tensor

MAX_LENGTH = 2000        # characters; keeps ast.parse's recursion far from its limit
MAX_NODES = 2000         # AST nodes after parsing
MAX_VARIABLES = 64
MAX_LITERAL = 1e15       # larger numbers are refused (exact SymPy arithmetic on them is slow)
MAX_LITERAL_EXPONENT = 1000.0

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class FormulaError(GraphcError, ValueError):
    """A formula that is not in the accepted grammar (reported before anything is built)."""


def _functions() -> dict[str, tuple[int, Callable[..., Tensor]]]:
    """name -> (number of arguments, builder): every elementwise primitive spelled as a
    function (not an operator) and taking only tensors, read from the op declarations, plus
    a few composites; ``max``/``min`` are the two-argument maximum/minimum, as in SymPy."""
    table = {name: (op.arity, getattr(api, name)) for name, op in OPS.items()
             if op.kind == "elementwise" and op.infix is None and op.shape is not None
             # cast needs a dtype, where a bool (formulas have no comparisons), and
             # stop_gradient would hide a derivative
             and name not in ("cast", "where", "stop_gradient")}
    table.update({"relu": (1, api.relu), "square": (1, api.square), "gelu": (1, nn.gelu),
                  "pow": (2, api.pow), "max": (2, api.maximum), "min": (2, api.minimum)})
    return dict(sorted(table.items()))


FUNCTIONS = _functions()

_BINOPS = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y,
           ast.Mult: lambda x, y: x * y, ast.Div: lambda x, y: x / y,
           ast.Pow: lambda x, y: x ** y}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


@dataclass
class Formula:
    """A parsed formula: its output tensor and its variables (name -> scalar placeholder)."""

    text: str
    output: Tensor
    variables: dict[str, Tensor] = field(default_factory=dict)


def _describe(node: ast.AST) -> str:
    """A short, safe description of a refused construct (never the raw text, it may be long)."""
    if isinstance(node, ast.Constant):
        return f"a {type(node.value).__name__} literal"
    if isinstance(node, ast.BinOp):
        return f"the operator {type(node.op).__name__}"
    if isinstance(node, ast.UnaryOp):
        return f"the unary operator {type(node.op).__name__}"
    return f"{type(node).__name__} syntax"


def _check_literal(value, col: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormulaError(f"only real numbers are allowed, got a {type(value).__name__} "
                           f"literal at column {col}")
    if not math.isfinite(float(value)) or abs(value) > MAX_LITERAL:
        raise FormulaError(f"number at column {col} is too large (limit {MAX_LITERAL:g})")
    return float(value)


def _fold(op: type[ast.operator], x: float, y: float, col: int) -> float:
    """Combine two literals now (so ``9**9**9`` is refused, not handed to SymPy)."""
    if op is ast.Pow and abs(y) > MAX_LITERAL_EXPONENT:
        raise FormulaError(f"exponent {y:g} at column {col} is too large "
                           f"(limit {MAX_LITERAL_EXPONENT:g})")
    try:
        v = _BINOPS[op](x, y)
    except (ZeroDivisionError, OverflowError, ValueError) as e:
        raise FormulaError(f"cannot compute {x:g} {_SYMBOLS[op]} {y:g} at column {col}: "
                           f"{e}") from None
    if isinstance(v, complex):
        raise FormulaError(f"{x:g} {_SYMBOLS[op]} {y:g} at column {col} is not a real number")
    return _check_literal(v, col)


def parse_formula(text: str, dtype="float64") -> Formula:
    """Parse ``text`` into a graph whose variables are scalar placeholders of ``dtype``.

    Raises ``FormulaError`` for anything outside the grammar; never evaluates Python.
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, got {type(text).__name__}")
    if not text.strip():
        raise FormulaError("empty formula")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters long (limit {MAX_LENGTH})")
    if any(ch in text for ch in "\n\r\x00"):
        raise FormulaError("a formula must be a single line")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        where = f" at column {e.offset}" if isinstance(e, SyntaxError) and e.offset else ""
        raise FormulaError(f"not a formula: syntax error{where}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise FormulaError(f"formula too large ({len(nodes)} syntax nodes, limit {MAX_NODES})")
    # Check the whole tree first, so nothing is built from a formula that is refused.
    callees = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    for node in nodes:
        if id(node) not in callees:
            _check_node(node)

    variables: dict[str, Tensor] = {}
    # Iterative post-order walk: values[id(node)] is a float (a literal) or a Tensor.
    values: dict[int, Any] = {}  # a float literal or a Tensor
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    while stack:
        node, ready = stack.pop()
        kids = _children(node)
        if not ready:
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))
            continue
        col = getattr(node, "col_offset", 0) + 1
        if isinstance(node, ast.Constant):
            values[id(node)] = _check_literal(node.value, col)
        elif isinstance(node, ast.Name):
            if node.id not in variables:
                if len(variables) >= MAX_VARIABLES:
                    raise FormulaError(f"too many variables (limit {MAX_VARIABLES})")
                variables[node.id] = api.placeholder(node.id, (), dtype)
            values[id(node)] = variables[node.id]
        elif isinstance(node, ast.UnaryOp):
            v = values[id(node.operand)]
            values[id(node)] = v if isinstance(node.op, ast.UAdd) else -v
        elif isinstance(node, ast.BinOp):
            x, y = values[id(node.left)], values[id(node.right)]
            op = type(node.op)
            if isinstance(x, float) and isinstance(y, float):
                values[id(node)] = _fold(op, x, y, col)
            else:
                if op is ast.Pow and isinstance(y, float) and abs(y) > MAX_LITERAL_EXPONENT:
                    raise FormulaError(f"exponent {y:g} at column {col} is too large "
                                       f"(limit {MAX_LITERAL_EXPONENT:g})")
                values[id(node)] = _BINOPS[op](x, y)
        elif isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)  # the grammar check allows calls by name only
            _, build = FUNCTIONS[node.func.id]
            args = [values[id(a)] for a in node.args]
            if all(isinstance(a, float) for a in args):
                # A function of numbers only: make its operands constants of the formula's dtype.
                args = [api.constant(a, dtype) for a in args]
            values[id(node)] = build(*args)
    out = values[id(tree.body)]
    if isinstance(out, float):
        out = api.constant(out, dtype)
    return Formula(text, out, variables)


def _children(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


def _check_node(node: ast.AST) -> None:
    """Refuse every construct outside the grammar (called on every node before building)."""
    col = getattr(node, "col_offset", 0) + 1
    if isinstance(node, (ast.Expression, ast.Load)):
        return
    if isinstance(node, ast.Constant):
        _check_literal(node.value, col)
        return
    if isinstance(node, ast.Name):
        if not _NAME.match(node.id):
            raise FormulaError(f"name {node.id[:40]!r} at column {col} is not allowed "
                               f"(variables are letters, digits and _, not starting with _)")
        if node.id in FUNCTIONS:
            raise FormulaError(f"{node.id!r} at column {col} is a function; call it, "
                               f"e.g. {node.id}(x)")
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return
    if isinstance(node, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)):
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            what = node.func.id if isinstance(node.func, ast.Name) else None
            name = f"{what[:40]!r}" if what else "this expression"
            raise FormulaError(f"cannot call {name} at column {col}; allowed functions: "
                               f"{', '.join(sorted(FUNCTIONS))}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise FormulaError(f"{node.func.id}() at column {col} takes positional "
                               f"arguments only")
        arity = FUNCTIONS[node.func.id][0]
        if len(node.args) != arity:
            raise FormulaError(f"{node.func.id}() at column {col} takes {arity} argument"
                               f"{'s' if arity > 1 else ''}, got {len(node.args)}")
        return
    raise FormulaError(f"{_describe(node)} at column {col} is not allowed in a formula "
                       f"(numbers, names, + - * / **, and calls to graphc functions only)")
