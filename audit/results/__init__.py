"""The typed, versioned results contract (`results.json`): what suites produce and renderers read.

Import record types from here (`from audit.results import Metric`); the submodules split them by
concern: records (metrics, outcomes, findings), views, run (SuiteResult, Provenance, AuditRun),
comparison (run comparisons, variant reports, histories) and migrate (older schema versions).
"""

from audit.results.comparison import (COMPARISON_SOURCE, Comparison, Direction, HistoryPoint, MetricChange,
                                      MetricHistory, Selftest, SelftestRow, UnpairedMetric, VariantReport)
from audit.results.records import (AUDITED, DERIVED_PREFIX, SCHEMA_VERSION, STAT_AUC, STAT_EO_GAP, STAT_MAX_GAP,
                                   STAT_MEAN, Statistic, UNIT_PROPORTION, Condition, Estimate, Example, Finding, Group,
                                   Metric, Outcomes, Power, Severity, Span, Status, Verdict, group_key,
                                   group_label, is_headline, metric_label, parse_group)
from audit.results.run import (AuditRun, DatasetProvenance, DerivedModelProvenance, ModelProvenance, Provenance,
                               SuiteResult)
from audit.results.views import (Bar, BarChartView, ExampleListView, LineChartView, MatrixHeatmapView, Series,
                                 TableView, TokenHeatmapView, TokenScores, View)

__all__ = [
    "AUDITED", "DERIVED_PREFIX", "Power", "Verdict", "STAT_AUC", "STAT_EO_GAP", "STAT_MAX_GAP", "STAT_MEAN",
    "Statistic", "is_headline", "metric_label", "Selftest", "SelftestRow",
    "AuditRun", "Bar", "BarChartView", "COMPARISON_SOURCE", "Comparison", "Condition", "DatasetProvenance",
    "DerivedModelProvenance", "Direction", "Estimate", "Example", "ExampleListView", "Finding", "Group",
    "HistoryPoint", "LineChartView", "MatrixHeatmapView", "Metric", "MetricChange", "MetricHistory",
    "ModelProvenance", "Outcomes", "Provenance", "SCHEMA_VERSION", "Series", "Severity", "Span", "Status",
    "SuiteResult", "TableView", "TokenHeatmapView", "TokenScores", "UNIT_PROPORTION", "UnpairedMetric",
    "VariantReport", "View", "group_key", "group_label", "parse_group",
]
