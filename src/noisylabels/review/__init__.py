"""Review the suspect labels of a run in a browser, and bring the decisions back.

* :mod:`.page`: ``noisylabels review RUN``: a static, self-contained page (index.html, data.js and
  thumbnail sprite sheets) that opens from ``file://`` with no server and no network;
* :mod:`.apply`: ``noisylabels apply-review RUN review_decisions.csv``: corrected labels in the source's
  own format (usable as ``--noise file:PATH``) and the excluded samples (``train --exclude FILE``);
* :mod:`.exclude`: reading an exclusion list and leaving those samples out of a training set.
"""
