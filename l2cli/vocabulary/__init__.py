"""The words every layer shares: the names a configuration may choose from (choices) and the kinds of
value a key allows (kinds). Nothing here imports numpy."""
