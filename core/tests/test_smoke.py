def test_installation_fixture_builds_a_consistent_inventory(installation):
    assert installation.node.owner == installation.room.site.operator
