"""pacer lab: a real multi-host cluster on one machine, in network namespaces.

`net` is the network (namespaces, bridge, faults); see pacer/lab/README.md.
"""
