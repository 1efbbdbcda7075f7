"""Reading graphs: SSA listings (``show``), formulas (``str``, ``expr``), LaTeX.

* ``show(outputs)`` prints a jaxpr-like listing: one line per computed node with its
  dtype and shape, numbered ``t1, t2, ...`` in the order the lines appear.
* ``str(t)`` prints the formula in NumPy notation (``x.T @ (g * (1.0 - h * h))``).
  Nodes used more than once, and pieces that would make a line too long, become
  ``let`` lines ``t1 = ...``. Broadcasts that NumPy would do implicitly inside an
  elementwise op are not written out; a size known only at run time is written
  after the input it comes from (``x.shape[0]``) or by its name (``batch``).
* ``expr(t)`` converts an elementwise graph into a SymPy expression (placeholders
  and parameters become symbols of their names).
* ``latex(t)`` is SymPy's LaTeX of ``expr(t)`` for elementwise graphs, and a LaTeX
  version of the ``str`` formula (``aligned`` lets) for the others.

Every traversal is iterative (``topo_order``), so graphs thousands of nodes deep print.
"""
from ..ir import Tensor
from .formula import formula_text, show_expression, tensor_repr
from .latex import latex
from .listing import show
from .naming import const_text
from .sympy_form import expr

__all__ = ["show", "show_expression", "tensor_repr", "expr", "latex", "formula_text",
           "const_text"]

# how a Tensor shows itself (attached here: the IR knows nothing of printing; setattr, as
# type checkers refuse assigning to a class's methods)
setattr(Tensor, "__repr__", tensor_repr)
setattr(Tensor, "__str__", show_expression)
setattr(Tensor, "_repr_latex_", lambda t: f"$${latex(t)}$$")
