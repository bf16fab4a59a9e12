"""A hook module whose import raises (not an ImportError): the cold start and check-config name the variable."""

raise RuntimeError("the rules table could not be read")
