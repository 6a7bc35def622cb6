"""SAE pretraining: the Lightning module and its stages (``module``), the stages run on one or
several seeds at once (``stages``) and the on-disk cache in front of them (``cache``)."""
