"""Example apps for the stream app: run one with `stream-app --app examples.<name>:make_app`."""
