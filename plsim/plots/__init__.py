"""matplotlib figures for every topic. Each function returns a ``Figure`` and accepts ``ax=``.

One module per topic (``plsim.plots.speedup``, ``.ensembles``, ``.data``,
``.federated``, ``.training``, ``.comm``); shared colours and the
measured-versus-simulated line styles live in ``plsim.plots.style``.
"""
