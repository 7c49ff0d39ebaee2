"""Who reports to whom, from an organisation's directory (Graph, Google Workspace, CSV).

``entries`` holds the neutral shape every source reads into; ``graph``,
``google`` and ``csv`` each read one kind of source; ``open_directory`` (in
``sources``) builds the reader a ``[[directory.sources]]`` table asks for. Like
every provider module, these import only the ground and other providers.
"""
