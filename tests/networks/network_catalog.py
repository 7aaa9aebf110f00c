"""Reaction networks shared by the network tests."""

MAPK = """
KKK + E1 <-> KKK_E1 ; a1, d1
KKK_E1 -> KKKp + E1 ; c1
KKKp + E2 <-> KKKp_E2 ; a2, d2
KKKp_E2 -> KKK + E2 ; c2
KK + KKKp <-> KK_KKKp ; a3, d3
KK_KKKp -> KKp + KKKp ; c3
KKp + P1 <-> KKp_P1 ; a4, d4
KKp_P1 -> KK + P1 ; c4
"""
