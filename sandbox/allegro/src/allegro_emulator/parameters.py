"""Category parameters as Allegro checks them (allegro-api.md 3, the 422 table of product-offers).

Values are checked on every write (drafts included): an unknown parameter, a value outside the
dictionary, of the wrong type or outside the restrictions is a 422 naming the parameter.
Missing `required` parameters stop a publication (drafts keep them as `validation.errors`);
missing `requiredForProduct` parameters stop the creation of a new product. Allegro can make a
parameter required later (`PUT /__admin/categories/{id}/parameters/{parameterId}`): offers
without it are listed by `/sale/offers/unfilled-parameters`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from allegro_emulator.errors import AllegroError, error
from allegro_emulator.seed import category_parameters
from allegro_emulator.state import Emulator, Json, parse_iso

_INTEGER = re.compile(r"-?\d+")


def definitions(emu: Emulator, category_id: str) -> list[Json]:
    """The category's parameters, with the requirement changes made since the seed (a planned
    requirement applies from its `scheduledFor` on)."""
    base = category_parameters(category_id)
    changes = dict(emu.world.parameter_required.get(category_id) or {})
    now = emu.now()
    for pid, plan in (emu.world.planned_requirements.get(category_id) or {}).items():
        if parse_iso(plan["scheduledFor"]) <= now:
            changes[pid] = True
    if not changes:
        return base
    return [{**p, "required": changes[p["id"]]} if p["id"] in changes else p for p in base]


def planned(emu: Emulator, category_id: str) -> set[str]:
    """Parameters scheduled to become required in the category, not required yet."""
    now = emu.now()
    plans = emu.world.planned_requirements.get(category_id) or {}
    return {pid for pid, plan in plans.items() if parse_iso(plan["scheduledFor"]) > now}


def scheduled_changes(emu: Emulator) -> list[Json]:
    """`RequirementChange`s of every category, oldest scheduled first."""
    changes = [
        {
            "type": "REQUIREMENT_CHANGE",
            "scheduledAt": plan["scheduledAt"],
            "scheduledFor": plan["scheduledFor"],
            "category": {"id": category_id},
            "parameter": {"id": pid},
        }
        for category_id, plans in emu.world.planned_requirements.items()
        for pid, plan in plans.items()
    ]
    return sorted(changes, key=lambda c: (c["scheduledAt"], c["category"]["id"]))


def _meta(param: Json, **extra: str) -> dict[str, str]:
    return {"parameterId": str(param["id"]), "parameterName": str(param["name"]), **extra}


def _bad(code: str, message: str, path: str, param: Json, **extra: str) -> Json:
    return error(code, message, path=path, metadata=_meta(param, **extra))


def _check_number(param: Json, raw: str, path: str) -> Json | None:
    restrictions = param.get("restrictions") or {}
    kind = param["type"]
    if kind == "integer" and not _INTEGER.fullmatch(raw):
        return _bad(
            "ParameterCategoryException",
            f"Parameter {param['name']} takes whole numbers, not {raw!r}",
            path,
            param,
            requestedParameterType="float" if _is_decimal(raw) else "string",
        )
    if not _is_decimal(raw):
        return _bad(
            "ParameterCategoryException",
            f"Parameter {param['name']} takes numbers, not {raw!r}",
            path,
            param,
            requestedParameterType="string",
        )
    value = Decimal(raw)
    exponent = value.as_tuple().exponent
    precision = restrictions.get("precision")
    if precision is not None and isinstance(exponent, int) and -exponent > precision:
        return _bad(
            "VALIDATION_ERROR",
            f"Parameter {param['name']} takes at most {precision} decimal places",
            path,
            param,
        )
    low, high = restrictions.get("min"), restrictions.get("max")
    if (low is not None and value < Decimal(str(low))) or (
        high is not None and value > Decimal(str(high))
    ):
        return _bad(
            "VALIDATION_ERROR",
            f"Parameter {param['name']} must be between {low} and {high}",
            path,
            param,
        )
    return None


def _is_decimal(raw: str) -> bool:
    try:
        return Decimal(raw).is_finite()
    except InvalidOperation:
        return False


def _check_one(param: Json, given: Json, path: str) -> list[Json]:
    """The errors of one parameter value against its definition."""
    kind = param["type"]
    restrictions = param.get("restrictions") or {}
    values = [str(v) for v in given.get("values") or []]
    ids = [str(v) for v in given.get("valuesIds") or []]
    range_value = given.get("rangeValue")
    name = param["name"]
    if not values and not ids and not range_value:
        return [
            _bad("IncompleteParameterDefinition", f"Parameter {name} has no value", path, param)
        ]
    if kind == "dictionary":
        if range_value:
            return [
                _bad(
                    "ParameterCategoryException",
                    f"Parameter {name} is a dictionary parameter, not a range",
                    path,
                    param,
                    requestedParameterType="range",
                )
            ]
        if values and ids and len(values) != len(ids):
            return [
                _bad(
                    "DictionaryParameterIdsAndValuesNotMatch",
                    f"Parameter {name}: values and valuesIds do not match",
                    path,
                    param,
                )
            ]
        dictionary = param.get("dictionary") or []
        known_ids = {d["id"] for d in dictionary}
        labels = {str(d["value"]).lower() for d in dictionary}
        problems = [
            _bad(
                "InvalidDictionaryParameter",
                f"Value {value_id} is not in the dictionary of parameter {name}",
                path,
                param,
                dictionaryValue=value_id,
            )
            for value_id in ids
            if value_id not in known_ids
        ]
        if not ids and not param["options"].get("customValuesEnabled"):
            problems += [
                _bad(
                    "DictionaryParameterValueNotFound",
                    f"Value {value!r} is not in the dictionary of parameter {name}",
                    path,
                    param,
                    requestedDictionaryValue=value,
                )
                for value in values
                if value.lower() not in labels
            ]
        if (
            not problems
            and max(len(ids), len(values)) > 1
            and not restrictions.get("multipleChoices")
        ):
            problems.append(
                _bad("VALIDATION_ERROR", f"Parameter {name} takes a single value", path, param)
            )
        return problems
    if ids:
        return [
            _bad(
                "ParameterCategoryException",
                f"Parameter {name} is a {kind} parameter: send values, not valuesIds",
                path,
                param,
                requestedParameterType="dictionary",
            )
        ]
    if restrictions.get("range"):
        if not isinstance(range_value, dict) or values:
            return [
                _bad(
                    "ParameterCategoryException",
                    f"Parameter {name} is a range parameter: send rangeValue",
                    path,
                    param,
                    requestedParameterType=kind,
                )
            ]
        low, high = str(range_value.get("from", "")), str(range_value.get("to", ""))
        problems = [
            p for p in (_check_number(param, low, path), _check_number(param, high, path)) if p
        ]
        if not problems and Decimal(low) > Decimal(high):
            problems.append(
                _bad("VALIDATION_ERROR", f"Parameter {name}: from is above to", path, param)
            )
        return problems
    if range_value:
        return [
            _bad(
                "ParameterCategoryException",
                f"Parameter {name} is not a range parameter",
                path,
                param,
                requestedParameterType="range",
            )
        ]
    if kind in ("integer", "float"):
        problems = [p for p in (_check_number(param, v, path) for v in values) if p]
        if not problems and len(values) > 1:
            problems.append(
                _bad("VALIDATION_ERROR", f"Parameter {name} takes a single value", path, param)
            )
        return problems
    # A string parameter.
    problems = []
    allowed = restrictions.get("allowedNumberOfValues")
    if allowed is not None and len(values) > allowed:
        problems.append(
            _bad(
                "VALIDATION_ERROR", f"Parameter {name} takes at most {allowed} values", path, param
            )
        )
    shortest: int = restrictions.get("minLength", 0)
    longest: int | None = restrictions.get("maxLength")
    for value in values:
        if len(value) < shortest or (longest is not None and len(value) > longest):
            problems.append(
                _bad(
                    "VALIDATION_ERROR",
                    f"Parameter {name} takes {shortest} to {longest} characters",
                    path,
                    param,
                )
            )
    return problems


def check_values(defs: list[Json], category_id: str, given: Any, prefix: str) -> None:
    """422 with every error when a given parameter is unknown or its value is invalid."""
    if given is None:
        return
    if not isinstance(given, list):
        raise AllegroError(422, "VALIDATION_ERROR", f"{prefix} must be a list", path=prefix)
    by_id = {p["id"]: p for p in defs}
    problems: list[Json] = []
    for index, item in enumerate(given):
        path = f"{prefix}[{index}]"
        if not isinstance(item, dict):
            problems.append(error("VALIDATION_ERROR", "A parameter must be an object", path=path))
            continue
        param = by_id.get(str(item["id"])) if item.get("id") is not None else None
        if item.get("id") is not None and param is None:
            problems.append(
                error(
                    "ParameterIdNotFoundException",
                    f"Parameter {item['id']} does not exist in category {category_id}",
                    path=path,
                    metadata={"categoryId": category_id, "parameterId": str(item["id"])},
                )
            )
            continue
        if param is None:
            named = [p for p in defs if p["name"] == item.get("name")]
            if len(named) != 1:
                problems.append(
                    error(
                        "ParameterNameNotFoundException"
                        if not named
                        else "ParameterNameNotUniqueException",
                        f"Parameter {item.get('name')!r} not found in category {category_id}",
                        path=path,
                        metadata={
                            "categoryId": category_id,
                            "parameterName": str(item.get("name")),
                        },
                    )
                )
                continue
            param = named[0]
        problems += _check_one(param, item, path)
    if not problems:
        problems = _dependency_errors(defs, given, prefix)
    if problems:
        raise AllegroError(422, problems[0]["code"], problems[0]["message"], errors=problems)


def _dependency_errors(defs: list[Json], given: list[Json], prefix: str) -> list[Json]:
    """A dictionary value with `dependsOnValueIds` needs one of them set on the parameter named
    by `options.dependsOnParameterId`. No source names Allegro's code for this."""
    filled = _filled(given, defs)
    by_id = {p["id"]: p for p in defs}
    problems = []
    for index, item in enumerate(given):
        param = by_id.get(str(item.get("id"))) if isinstance(item, dict) else None
        other = param["options"].get("dependsOnParameterId") if param else None
        if param is None or other is None:
            continue
        needs = {d["id"]: set(d["dependsOnValueIds"]) for d in param.get("dictionary") or []}
        for value_id in filled.get(param["id"], set()):
            wanted = needs.get(value_id)
            if wanted and not wanted & filled.get(other, set()):
                problems.append(
                    _bad(
                        "VALIDATION_ERROR",
                        f"Value {value_id} of {param['name']} needs one of {sorted(wanted)}"
                        f" in parameter {other}",
                        f"{prefix}[{index}]",
                        param,
                        dictionaryValue=value_id,
                    )
                )
    return problems


def _filled(given: list[Json], defs: list[Json]) -> dict[str, set[str]]:
    """Parameter id -> dictionary value ids, for every parameter given a value."""
    by_name = {p["name"]: p["id"] for p in defs}
    # Dictionary labels count as their ids ("Używany" is 11323_2).
    labels = {
        (p["id"], str(d["value"]).lower()): d["id"] for p in defs for d in p.get("dictionary") or []
    }
    filled: dict[str, set[str]] = {}
    for item in given:
        pid = str(item["id"]) if item.get("id") is not None else by_name.get(item.get("name"))
        if pid and (item.get("values") or item.get("valuesIds") or item.get("rangeValue")):
            ids = filled.setdefault(pid, set())
            ids.update(str(v) for v in item.get("valuesIds") or [])
            ids.update(labels.get((pid, str(v).lower()), "") for v in item.get("values") or [])
    return filled


def _applies(param: Json, filled: dict[str, set[str]]) -> bool:
    """Whether a `requiredIf` condition holds (no condition: always)."""
    condition = param.get("requiredIf")
    if not condition:
        return True
    with_value = all(
        filled.get(c["id"], set()) & set(c["oneOfValueIds"])
        for c in condition.get("parametersWithValue", [])
    )
    without_value = all(c["id"] not in filled for c in condition.get("parametersWithoutValue", []))
    return with_value and without_value


def missing(defs: list[Json], given: list[Json], flag: str = "required") -> list[Json]:
    """Definitions flagged `flag` (`required` or `requiredForProduct`) that have no value."""
    filled = _filled(given, defs)
    return [p for p in defs if p.get(flag) and p["id"] not in filled and _applies(p, filled)]


def missing_errors(params: list[Json], path: str) -> list[Json]:
    return [
        error(
            "MissingRequiredParameters",
            f"Missing required parameters: {p['name']} ({p['id']})",
            path=path,
            metadata=_meta(p),
        )
        for p in params
    ]
