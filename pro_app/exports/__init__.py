"""Study data exports: shared writers every export command uses."""
