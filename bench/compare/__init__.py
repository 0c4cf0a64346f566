"""The anchors `bench/failover.py` compares pacer with, measured in the same run:
keepalived (`keepalived.py`: VRRP on the lab's network, no pacer) and
Pacemaker + Corosync (`pacemaker.py`: the kit in ../shared/bench/pacemaker-lab,
`--with-pacemaker`). Benchmark code, not product: it drives other managers
through the lab's network and probe (`pacer.lab.net`, `pacer.lab.probe`).
"""
