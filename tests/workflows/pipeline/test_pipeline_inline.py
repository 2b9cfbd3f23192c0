from workflows.models import Item, ItemStatus


def test_it_routes_unsure_items_to_review_and_auto_accepts_the_rest(routed_items):
    in_review = routed_items(count=40)
    statuses = set(Item.objects.values_list("status", flat=True))
    assert statuses <= {ItemStatus.COMPLETED, ItemStatus.AWAITING_REVIEW}
    assert in_review, "the demo data must send some tickets to a reviewer"
    for item in in_review:
        assert item.tasks.count() == 1
        assert item.routing["action"] == "review"
