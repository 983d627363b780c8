"""Rules as versioned data, and the one evaluator that applies them.

``classify(item, rules_at=date)`` answers: which class is this chip, does this shipment
need a license, which thresholds does this model cross — citing each clause it rests on.
"""

from accord.rules.evaluate import classify, parse_item
from accord.rules.items import ChipCount, ChipItem, ClusterItem, ModelItem, ServerItem, ShipmentItem
from accord.rules.library import all_rule_sets, get_rule_set, in_force, load_rule_set_file
from accord.rules.logic import Tri
from accord.rules.schema import Clause, RuleSet
from accord.rules.verdict import ClauseOutcome, Verdict

__all__ = [
    "ChipCount",
    "ChipItem",
    "Clause",
    "ClauseOutcome",
    "ClusterItem",
    "ModelItem",
    "RuleSet",
    "ServerItem",
    "ShipmentItem",
    "Tri",
    "Verdict",
    "all_rule_sets",
    "classify",
    "get_rule_set",
    "in_force",
    "load_rule_set_file",
    "parse_item",
]
