"""jupyter-blocks on JupyterHub: the gallery service (`jupyter blocks serve`), its Hub config
fragment (`jupyter blocks hub-config`) and what the Hub says of its users (moderation)."""
