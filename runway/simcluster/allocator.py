"""Cluster IPs and node ports for Services, allocated and refused as a real server does."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from runway.simcluster.errors import FieldError, Object
from runway.simcluster.names import go_strings

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)


class Allocator:
    """The Service IP range and node-port range of one simulated cluster."""

    def __init__(self, seed: int | None = None) -> None:
        self._ips: set[str] = set()
        self._ports: set[int] = set()
        self._random = random.Random(seed)

    def reserve(self, spec: dict[str, Any]) -> list[FieldError]:
        """Allocate what a new Service's spec needs, or say why the requested values cannot be."""
        kind = spec.get("type", "ClusterIP")
        if kind == "ExternalName":
            return []
        wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
        if wanted == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
        elif wanted:
            problem = self._check_ip(str(wanted))
            if problem:
                return [FieldError("Invalid", "spec.clusterIPs", problem, go_strings([wanted]))]
            self._ips.add(str(wanted))
            spec["clusterIP"], spec["clusterIPs"] = wanted, [wanted]
        else:
            address = self._free_ip()
            self._ips.add(address)
            spec["clusterIP"], spec["clusterIPs"] = address, [address]
        if kind in ("NodePort", "LoadBalancer"):
            for index, port in enumerate(spec.get("ports") or []):
                number = port.get("nodePort")
                if number is None:
                    port["nodePort"] = self._free_port()
                elif number in self._ports or number not in NODE_PORTS:
                    why = (
                        "provided port is already allocated"
                        if number in self._ports
                        else "provided port is not in the valid range. The range of valid "
                        f"ports is {NODE_PORTS.start}-{NODE_PORTS.stop - 1}"
                    )
                    return [
                        FieldError("Invalid", f"spec.ports[{index}].nodePort", why, str(number))
                    ]
                self._ports.add(port["nodePort"])
        return []

    def carry_over(self, spec: dict[str, Any], old: dict[str, Any]) -> None:
        """An update that leaves the cluster IP or node ports out keeps the allocated ones."""
        if spec.get("type") == "ExternalName" or old.get("type") == "ExternalName":
            return
        if not spec.get("clusterIP"):
            spec["clusterIP"] = old.get("clusterIP")
        if not spec.get("clusterIPs"):
            spec["clusterIPs"] = old.get("clusterIPs") or [spec["clusterIP"]]
        old_ports = {p.get("port"): p.get("nodePort") for p in old.get("ports") or []}
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                if port.get("nodePort") is None and old_ports.get(port.get("port")):
                    port["nodePort"] = old_ports[port.get("port")]

    def release(self, service: Object) -> None:
        spec = service.get("spec") or {}
        for address in spec.get("clusterIPs") or []:
            self._ips.discard(address)
        for port in spec.get("ports") or []:
            self._ports.discard(port.get("nodePort"))

    def _check_ip(self, wanted: str) -> str | None:
        prefix = f"failed to allocate IP {wanted}: "
        try:
            address = ipaddress.ip_address(wanted)
        except ValueError:
            return f"{prefix}must be a valid IP address"
        if address not in SERVICE_CIDR or address in (SERVICE_CIDR[0], SERVICE_CIDR[-1]):
            return (
                f"{prefix}the provided IP ({wanted}) is not in the valid range. The range of "
                f"valid IPs is {SERVICE_CIDR}"
            )
        if wanted in self._ips:
            return f"{prefix}provided IP is already allocated"
        return None

    def _free_ip(self) -> str:
        while True:
            offset = self._random.randrange(2, SERVICE_CIDR.num_addresses - 1)
            address = str(SERVICE_CIDR[offset])
            if address not in self._ips:
                return address

    def _free_port(self) -> int:
        while True:
            port = self._random.choice(NODE_PORTS)
            if port not in self._ports:
                return port
