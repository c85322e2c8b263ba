"""Part 1.1: can a CNN tell classes apart by relative position? It depends on the padding."""
