"""Medical records as the workbench and the manager see them: lists, search,
KPIs (queries)."""
