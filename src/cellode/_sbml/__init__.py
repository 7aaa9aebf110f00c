"""SBML import: libsbml reads the file, cellode translates its MathML into JAX (no eval)."""
