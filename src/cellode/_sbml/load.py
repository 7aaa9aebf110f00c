"""Reading an SBML file with libsbml, checking it, and building the model's `Structure`."""

from __future__ import annotations

import math
import os
from pathlib import Path

import libsbml
import numpy as np

from .errors import SbmlError
from .mathml import (
    Expr,
    Unsupported,
    function_definitions,
    rates_used,
    symbols_used,
    translate,
    walk,
)
from .structure import EventSpec, Structure, amount_key

# Packages whose presence alone changes nothing in a time course (layout, rendering, grouping).
_HARMLESS_PACKAGES = {"layout", "render", "groups", "l3v2extendedmath"}


def read_document(source: str | os.PathLike) -> tuple[libsbml.SBMLDocument, str]:
    """Parse a file path or an SBML string; raise `SbmlError` with libsbml's first errors."""
    text = str(source)
    if isinstance(source, str) and text.lstrip().startswith("<"):
        doc, name = libsbml.readSBMLFromString(text), "<SBML string>"
    else:
        path = Path(source)
        if not path.is_file():
            raise SbmlError(f"SBML file {str(path)!r} does not exist; check the path.")
        doc, name = libsbml.readSBMLFromFile(str(path)), str(path)
    errors = [
        doc.getError(i)
        for i in range(doc.getNumErrors())
        if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    if errors:
        first = "\n".join(f"  line {e.getLine()}: {e.getMessage().strip()}" for e in errors[:5])
        more = f"\n  ... and {len(errors) - 5} more" if len(errors) > 5 else ""
        raise SbmlError(
            f"{name} is not valid SBML ({len(errors)} error(s) from libsbml):\n{first}{more}\n"
            "Fix the file (an SBML validator such as libsbml's shows every error)."
        )
    if doc.getModel() is None:
        raise SbmlError(f"{name} contains no <model>; an SBML file needs one model element.")
    return doc, name


def _package_problems(doc: libsbml.SBMLDocument) -> list[str]:
    problems = []
    model = doc.getModel()
    for i in range(doc.getNumPlugins()):
        plugin = doc.getPlugin(i)
        pkg = plugin.getPackageName()
        if pkg in _HARMLESS_PACKAGES:
            continue
        if pkg == "comp":
            mplug = model.getPlugin("comp")
            used = (mplug is not None and mplug.getNumSubmodels() > 0) or (
                plugin.getNumModelDefinitions() + plugin.getNumExternalModelDefinitions() > 0
            )
            if used:
                problems.append("package 'comp' (hierarchical model composition, submodels)")
            continue
        if pkg == "fbc":
            mplug = model.getPlugin("fbc")
            if mplug is not None and mplug.getNumObjectives() > 0:
                problems.append("package 'fbc' (flux balance objectives)")
            continue
        problems.append(f"package {pkg!r}")
    return problems


def build_structure(
    doc: libsbml.SBMLDocument, name: str, *, allow_events: bool = False
) -> Structure:
    """The `Structure` of the document's model; one `SbmlError` lists everything unsupported.

    Events are read only with `allow_events` (their simulation needs `simulate_sbml`; the
    plain vector field cannot apply them), otherwise each is listed as unsupported.
    """
    model = doc.getModel()
    unsupported: list[str] = _package_problems(doc)
    if not allow_events:
        for e in model.getListOfEvents():
            unsupported.append(f"event {e.getId() or e.getName() or '(no id)'!r}")
    for r in model.getListOfRules():
        if r.isAlgebraic() and r.getMath() is not None:
            unsupported.append(f"algebraic rule {libsbml.formulaToL3String(r.getMath())!r}")
    for r in model.getListOfReactions():
        if r.isSetFast() and r.getFast():
            unsupported.append(f"fast reaction {r.getId()!r}")

    functions = function_definitions(model)

    def tr(node, where: str, bindings=None) -> Expr:
        try:
            return translate(node, functions, bindings)
        except Unsupported as err:
            unsupported.append(f"{err} in {where}")
            return ("c", math.nan)

    level = model.getLevel()
    compartments = {c.getId(): c for c in model.getListOfCompartments()}
    species = {s.getId(): s for s in model.getListOfSpecies()}
    parameters = {p.getId(): p for p in model.getListOfParameters()}

    assignment: dict[str, Expr] = {}
    rate_rules: dict[str, Expr] = {}
    for r in model.getListOfRules():
        if r.getMath() is None:
            continue  # SBML L3v2: a rule without math has no effect
        if r.isAssignment():
            assignment[r.getVariable()] = tr(
                r.getMath(), f"the assignment rule for {r.getVariable()!r}"
            )
        elif r.isRate():
            rate_rules[r.getVariable()] = tr(r.getMath(), f"the rate rule for {r.getVariable()!r}")
    initial: dict[str, Expr] = {}
    for ia in model.getListOfInitialAssignments():
        if ia.getMath() is None:
            continue
        initial[ia.getSymbol()] = tr(ia.getMath(), f"the initial assignment of {ia.getSymbol()!r}")

    events: list[EventSpec] = []
    if allow_events:
        for k, e in enumerate(model.getListOfEvents()):
            eid = e.getId() or f"event{k}"
            where = f"event {eid!r}"
            trig = e.getTrigger()
            if trig is None or trig.getMath() is None:
                unsupported.append(f"{where} without a trigger")
                continue
            l3 = level >= 3
            events.append(
                EventSpec(
                    id=eid,
                    trigger=tr(trig.getMath(), f"the trigger of {where}"),
                    initial_value=bool(trig.getInitialValue()) if l3 else True,
                    persistent=bool(trig.getPersistent()) if l3 else True,
                    delay=tr(e.getDelay().getMath(), f"the delay of {where}")
                    if e.isSetDelay() and e.getDelay().getMath() is not None
                    else None,
                    priority=tr(e.getPriority().getMath(), f"the priority of {where}")
                    if l3 and e.isSetPriority() and e.getPriority().getMath() is not None
                    else None,
                    use_trigger_values=bool(e.getUseValuesFromTriggerTime())
                    if e.isSetUseValuesFromTriggerTime() or level >= 3
                    else True,
                    assignments=tuple(
                        (a.getVariable(), tr(a.getMath(), f"an assignment of {where}"))
                        for a in e.getListOfEventAssignments()
                        if a.getMath() is not None
                    ),
                )
            )
    event_targets = {t for ev in events for t, _ in ev.assignments}

    # --- compartments and species: values at t0 ------------------------------------------------
    init_defs: dict[str, Expr] = {}
    kinds: dict[str, str] = {}
    for cid, c in compartments.items():
        kinds[cid] = "compartment"
        if c.isSetSize():
            size = c.getSize()
        elif level == 1 or c.getSpatialDimensionsAsDouble() == 0:
            size = 1.0
        else:
            size = math.nan
        init_defs[cid] = ("c", float(size))
    varying_comp = {
        c for c in compartments if c in rate_rules or c in assignment or c in event_targets
    }

    amount_valued = set()
    species_comp = {}
    for sid, s in species.items():
        kinds[sid] = "species"
        comp = s.getCompartment()
        species_comp[sid] = comp
        c = compartments.get(comp)
        zero_d = c is not None and c.getSpatialDimensionsAsDouble() == 0 and not c.isSetSize()
        is_amount = s.getHasOnlySubstanceUnits() or zero_d
        if is_amount:
            amount_valued.add(sid)
        vol = ("v", comp)
        if s.isSetInitialAmount():
            a = ("c", float(s.getInitialAmount()))
            init_defs[sid] = a if is_amount else ("op", "divide", (a, vol))
        elif s.isSetInitialConcentration():
            conc = ("c", float(s.getInitialConcentration()))
            init_defs[sid] = ("op", "times", (conc, vol)) if is_amount else conc
        else:
            init_defs[sid] = ("c", math.nan)

    for pid, p in parameters.items():
        kinds[pid] = "parameter"
        init_defs[pid] = ("c", float(p.getValue()) if p.isSetValue() else math.nan)

    # --- reactions -------------------------------------------------------------------------------
    reaction_ids = []
    kinetic: dict[str, Expr] = {}
    # (species, reaction index, sign, stoichiometry expression or number)
    terms: list[tuple[str, int, float, Expr | float]] = []
    for j, r in enumerate(model.getListOfReactions()):
        rid = r.getId()
        reaction_ids.append(rid)
        kinds[rid] = "reaction"
        kl = r.getKineticLaw()
        if kl is None or kl.getMath() is None:
            kinetic[rid] = ("c", 0.0)
        else:
            local = {lp.getId(): ("c", float(lp.getValue())) for lp in kl.getListOfParameters()}
            if level >= 3:
                for lp in kl.getListOfLocalParameters():
                    local[lp.getId()] = ("c", float(lp.getValue()))
            kinetic[rid] = tr(kl.getMath(), f"the kinetic law of reaction {rid!r}", local)
        for sign, refs in ((-1.0, r.getListOfReactants()), (1.0, r.getListOfProducts())):
            for sr in refs:
                srid = sr.getId() if sr.isSetId() else ""
                if level < 3 and sr.isSetStoichiometryMath():
                    st: Expr | float = tr(
                        sr.getStoichiometryMath().getMath(),
                        f"the stoichiometryMath of {sr.getSpecies()!r} in reaction {rid!r}",
                    )
                else:
                    if level >= 3 and not sr.isSetStoichiometry():
                        value = 1.0 if srid not in initial else math.nan
                    else:
                        value = float(sr.getStoichiometry())
                        if level == 1:
                            value /= sr.getDenominator()
                    st = value
                    if srid:
                        kinds[srid] = "speciesReference"
                        init_defs[srid] = ("c", value)
                        if (
                            srid in assignment
                            or srid in rate_rules
                            or srid in initial
                            or (srid in event_targets)
                        ):
                            st = ("v", srid)
                terms.append((sr.getSpecies(), j, sign, st))
    init_defs.update(kinetic)

    known = set(init_defs)
    for target in (*assignment, *rate_rules, *initial):
        if target not in known:
            unsupported.append(f"a rule or initial assignment for the unknown id {target!r}")
    for target in rate_rules:
        if kinds.get(target) == "species" and species[target].getConstant():
            unsupported.append(f"a rate rule for the constant species {target!r}")

    # --- classify every id -------------------------------------------------------------------------
    state_ids: list[str] = []
    state_is_amount: list[bool] = []
    run_defs: dict[str, Expr] = dict(assignment)
    run_defs.update(kinetic)
    for sid, s in species.items():
        if sid in rate_rules or sid in assignment:
            continue
        if sid in event_targets and s.getBoundaryCondition():
            continue  # a value state below
        # A constant or boundary species keeps its amount when its compartment changes size
        # (so its concentration changes); otherwise it is simply a constant.
        if (s.getConstant() or s.getBoundaryCondition()) and (
            species_comp[sid] not in varying_comp or sid in amount_valued
        ):
            continue
        state_ids.append(sid)
        state_is_amount.append(True)
        amt = ("v", amount_key(sid))
        run_defs[sid] = (
            amt if sid in amount_valued else ("op", "divide", (amt, ("v", species_comp[sid])))
        )
    for target in rate_rules:
        if target in known:
            state_ids.append(target)
            state_is_amount.append(False)
    for target in event_targets:
        # Quantities that events change are states (derivative 0 unless a rate rule says).
        if target in known and target not in state_ids and target not in assignment:
            state_ids.append(target)
            state_is_amount.append(False)
    for target, expr in assignment.items():
        init_defs[target] = expr
    for target, expr in initial.items():
        if target not in assignment:
            init_defs[target] = expr

    time_varying = set(state_ids) | set(assignment) | set(reaction_ids)
    time_invariant = frozenset(i for i in init_defs if i not in time_varying)
    constant_ids = []
    constant_values = []
    for i in time_invariant:
        d = init_defs[i]
        if kinds[i] in ("parameter", "compartment", "species") and i not in initial and d[0] == "c":
            constant_ids.append(i)
            constant_values.append(d[1])
    order = {k: n for n, k in enumerate(init_defs)}
    pairs = sorted(zip(constant_ids, constant_values, strict=True), key=lambda kv: order[kv[0]])
    constant_ids = [k for k, _ in pairs]
    constant_values = [v for _, v in pairs]

    # --- stoichiometry of the amount states ------------------------------------------------------
    index = {s: n for n, s in enumerate(state_ids)}
    stoich = np.zeros((len(state_ids), len(reaction_ids)))
    dyn: list[tuple[int, int, Expr]] = []
    for sid, j, sign, st in terms:
        if sid not in species:
            unsupported.append(
                f"reaction {reaction_ids[j]!r} refers to the unknown species {sid!r}"
            )
            continue
        n = index.get(sid)
        fixed = species[sid].getBoundaryCondition() or species[sid].getConstant()
        if n is None or not state_is_amount[n] or fixed:
            continue
        if isinstance(st, float):
            stoich[n, j] += sign * st
        else:
            dyn.append((n, j, ("op", "times", (("c", sign), st))))
    model_cf = model.getConversionFactor() if level >= 3 and model.isSetConversionFactor() else ""
    conversion: list[Expr | None] = []
    for sid, is_amt in zip(state_ids, state_is_amount, strict=True):
        cf = ""
        if is_amt:
            s = species[sid]
            cf = s.getConversionFactor() if level >= 3 and s.isSetConversionFactor() else model_cf
        conversion.append(("v", cf) if cf else None)

    # --- checks across everything --------------------------------------------------------------
    defined = set(init_defs) | {amount_key(s) for s in state_ids}
    exprs = [*init_defs.values(), *run_defs.values(), *rate_rules.values()]
    exprs += [e for _, _, e in dyn] + [c for c in conversion if c is not None]
    for ev in events:
        exprs += [ev.trigger, *(a for _, a in ev.assignments)]
        exprs += [x for x in (ev.delay, ev.priority) if x is not None]
        for target, _ in ev.assignments:
            if target in assignment or target not in known:
                unsupported.append(f"event {ev.id!r} assigns {target!r}, which it cannot")
    undefined = sorted({n for e in exprs for n in symbols_used(e)} - defined)
    for u in undefined:
        unsupported.append(f"a formula uses {u!r}, which the model does not define")
    for rid_ in sorted({n for e in exprs for n in rates_used(e)}):
        if rid_ in assignment or kinds.get(rid_) == "reaction":
            unsupported.append(f"rateOf({rid_}) of an assignment-rule target or reaction")
    if unsupported:
        listing = "\n".join(f"  - {u}" for u in dict.fromkeys(unsupported))
        raise SbmlError(
            f"{name} uses SBML features cellode does not simulate:\n{listing}\n"
            "Remove or rewrite these elements (cellode simulates ODE models: species, "
            "compartments, parameters, reactions, rules, initial assignments, function "
            "definitions)."
        )

    jumps = _jump_expressions(
        [*run_defs.values(), *rate_rules.values(), *(ev.trigger for ev in events)], time_invariant
    )
    symbol_ids = tuple(i for i in init_defs if not i.startswith("@"))
    return Structure(
        source=name,
        state_ids=tuple(state_ids),
        state_is_amount=tuple(state_is_amount),
        constant_ids=tuple(constant_ids),
        constant_values=tuple(constant_values),
        init_defs=init_defs,
        run_defs=run_defs,
        rate_rules=rate_rules,
        reaction_ids=tuple(reaction_ids),
        stoich=stoich,
        dyn_stoich=tuple(dyn),
        conversion=tuple(conversion),
        species_compartment=species_comp,
        amount_valued=frozenset(amount_valued),
        symbol_ids=symbol_ids,
        jump_exprs=jumps,
        time_invariant=time_invariant,
        kinds=kinds,
        events=tuple(events),
    )


def _jump_expressions(exprs, time_invariant) -> tuple[Expr, ...]:
    """Time points t* of comparisons `t op t*` with t* time-invariant: where the RHS may jump."""
    out = []
    for e in exprs:
        for node in walk(e):
            if node[0] != "op" or node[1] not in ("lt", "leq", "gt", "geq", "eq", "neq"):
                continue
            args = node[2]
            if len(args) != 2:
                continue
            for a, b in ((args[0], args[1]), (args[1], args[0])):
                if a == ("t",) and not any(n[0] in ("t", "rateof") for n in walk(b)):
                    if symbols_used(b) <= time_invariant:
                        out.append(b)
    return tuple(dict.fromkeys(out))
