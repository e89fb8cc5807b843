"""The published dashboards: a static, offline Plotly site with small-cell suppression.

- :mod:`dashboards.site` writes the site (:func:`~dashboards.site.build_site`) and the index page;
- one module per page: :mod:`~dashboards.director`, :mod:`~dashboards.researcher`,
  :mod:`~dashboards.payer`, :mod:`~dashboards.quality`, :mod:`~dashboards.definitions`;
- figures: :mod:`~dashboards.forest`, :mod:`~dashboards.funnel`, :mod:`~dashboards.responder_funnel`,
  :mod:`~dashboards.relief`, :mod:`~dashboards.follow_up`, :mod:`~dashboards.sensitivity`,
  :mod:`~dashboards.techniques`, :mod:`~dashboards.flares`, :mod:`~dashboards.case_mix` and the page
  modules (pure functions: published DataFrame in, Plotly figure out);
- :mod:`~dashboards.suppression` (pure rules) and :mod:`~dashboards.publication` (which cells of the
  marts may be shown) apply metrics.md section 9; :mod:`~dashboards.queries` is the only module
  that reads the warehouse (aggregates only, allow-listed tables and columns);
- :mod:`~dashboards.html` and :mod:`~dashboards.theme`: page template, CSS, colours, formats.

Nothing here selects a patient id, session id or episode key into Python.
"""
