"""Build small SBML Level 3 documents in tests with libsbml's object API."""

from __future__ import annotations

import libsbml


class SbmlBuilder:
    def __init__(self, model_id: str = "m"):
        self.doc = libsbml.SBMLDocument(3, 2)
        self.model = self.doc.createModel()
        self.model.setId(model_id)

    def compartment(self, cid: str, size: float, constant: bool = True) -> SbmlBuilder:
        c = self.model.createCompartment()
        c.setId(cid)
        c.setSize(size)
        c.setConstant(constant)
        c.setSpatialDimensions(3)
        return self

    def species(
        self,
        sid,
        comp,
        *,
        conc=None,
        amount=None,
        only_substance=False,
        boundary=False,
        constant=False,
    ) -> SbmlBuilder:
        s = self.model.createSpecies()
        s.setId(sid)
        s.setCompartment(comp)
        if conc is not None:
            s.setInitialConcentration(conc)
        if amount is not None:
            s.setInitialAmount(amount)
        s.setHasOnlySubstanceUnits(only_substance)
        s.setBoundaryCondition(boundary)
        s.setConstant(constant)
        return self

    def parameter(self, pid: str, value: float | None = None, constant: bool = True):
        p = self.model.createParameter()
        p.setId(pid)
        if value is not None:
            p.setValue(value)
        p.setConstant(constant)
        return self

    def reaction(self, rid: str, reactants: dict, products: dict, law: str):
        r = self.model.createReaction()
        r.setId(rid)
        r.setReversible(False)
        for side, create in ((reactants, r.createReactant), (products, r.createProduct)):
            for s, n in side.items():
                ref = create()
                ref.setSpecies(s)
                ref.setStoichiometry(n)
                ref.setConstant(True)
        r.createKineticLaw().setMath(_math(law))
        return self

    def rate_rule(self, target: str, formula: str):
        self.model.createRateRule().setVariable(target)
        self.model.getRule(self.model.getNumRules() - 1).setMath(_math(formula))
        return self

    def assignment_rule(self, target: str, formula: str):
        self.model.createAssignmentRule().setVariable(target)
        self.model.getRule(self.model.getNumRules() - 1).setMath(_math(formula))
        return self

    def algebraic_rule(self, formula: str):
        self.model.createAlgebraicRule().setMath(_math(formula))
        return self

    def initial_assignment(self, target: str, formula: str):
        ia = self.model.createInitialAssignment()
        ia.setSymbol(target)
        ia.setMath(_math(formula))
        return self

    def event(
        self,
        eid: str,
        trigger: str,
        target: str,
        formula: str,
        delay: str | None = None,
        use_trigger_values: bool = True,
        persistent: bool = True,
    ):
        e = self.model.createEvent()
        e.setId(eid)
        e.setUseValuesFromTriggerTime(use_trigger_values)
        if delay is not None:
            e.createDelay().setMath(_math(delay))
        t = e.createTrigger()
        t.setMath(_math(trigger))
        t.setPersistent(persistent)
        t.setInitialValue(False)
        a = e.createEventAssignment()
        a.setVariable(target)
        a.setMath(_math(formula))
        return self

    def text(self) -> str:
        return libsbml.writeSBMLToString(self.doc)


def _math(formula: str) -> libsbml.ASTNode:
    node = libsbml.parseL3Formula(formula)
    if node is None:
        raise ValueError(libsbml.getLastParseL3Error())
    return node
