"""The client's leader election on a Lease lock: acquire, renew, hold off, take over."""

import unittest

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from support import NS, connect


def setUpModule():
    connect()


def candidate(identity):
    """One candidate; the test drives its steps, so no loop or timer runs."""
    config = electionconfig.Config(
        LeaseLock("leader", NS, identity),
        lease_duration=15,
        renew_deadline=10,
        retry_period=2,
        onstarted_leading=lambda: None,
        onstopped_leading=lambda: None,
    )
    return leaderelection.LeaderElection(config)


class LeaderElectionTest(unittest.TestCase):
    def test_lease_lock_election(self):
        leases = client.CoordinationV1Api()
        a, b = candidate("a"), candidate("b")

        self.assertTrue(a.try_acquire_or_renew())
        lease = leases.read_namespaced_lease("leader", NS)
        self.assertEqual(lease.spec.holder_identity, "a")
        self.assertEqual(lease.spec.lease_duration_seconds, 15)
        acquired = lease.spec.acquire_time
        self.assertIsNotNone(acquired.tzinfo)

        # Held and not expired: b stands by.
        self.assertFalse(b.try_acquire_or_renew())
        # The leader renews: renewTime moves, acquireTime stays.
        self.assertTrue(a.try_acquire_or_renew())
        renewed = leases.read_namespaced_lease("leader", NS)
        self.assertEqual(renewed.spec.holder_identity, "a")
        self.assertEqual(renewed.spec.acquire_time, acquired)
        self.assertNotEqual(renewed.metadata.resource_version, lease.metadata.resource_version)

        # Once b has seen the same record for the lease's duration, b takes over.
        self.assertFalse(b.try_acquire_or_renew())
        b.observed_time_milliseconds -= 15 * 1000
        self.assertTrue(b.try_acquire_or_renew())
        self.assertEqual(leases.read_namespaced_lease("leader", NS).spec.holder_identity, "b")
        self.assertFalse(a.try_acquire_or_renew())

        leases.delete_namespaced_lease("leader", NS)
