"""The pure model: the state machine's next steps, the offer body, parameter checks against a
category's definitions, prices per marketplace, and what Allegro's refusals mean."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from offers.domain import images, listing, states, sync
from offers.domain.listing import classify, marketplace_prices, price_text

from .samples import ACCOUNT, BRAND, CONDITION, DEFINITIONS, ITEM, PRICES, WARRANTY


def wanted(**changes: Any) -> states.Wanted:
    values: dict[str, Any] = {
        "state": states.WAITING,
        "offer_id": None,
        "listed": True,
        "has_content": True,
        "has_base_price": True,
        "stock": 3,
        "account_ready": True,
    }
    return states.Wanted(**{**values, **changes})


class TestNextStep:
    def test_an_offer_with_everything_is_checked(self) -> None:
        step = states.next_step(wanted(), "catalogue")
        assert step == states.Step(states.CHECKING, "catalogue", work=states.CHECK)

    def test_it_waits_for_every_missing_input_at_once(self) -> None:
        step = states.next_step(
            wanted(has_content=False, has_base_price=False, stock=0, account_ready=False), "x"
        )
        assert step is not None and step.state == states.WAITING and step.work is None
        assert step.waiting_for == ("content", "price", "stock", "readiness")

    def test_a_withdrawn_live_offer_is_ended_by_the_publisher(self) -> None:
        withdrawn = states.next_step(wanted(state=states.ACTIVE, offer_id="1", listed=False), "x")
        assert withdrawn is not None and withdrawn.work == states.END
        assert withdrawn.state is None
        assert states.next_step(wanted(state=states.ACTIVE, offer_id="1"), "x") is None

    def test_sold_out_and_restock_are_left_to_the_sync(self) -> None:
        # The batch commands end and reactivate (TestSync below); no publisher step.
        assert states.next_step(wanted(state=states.ACTIVE, offer_id="1", stock=0), "x") is None
        assert states.next_step(wanted(state=states.ENDED, offer_id="1", stock=2), "x") is None

    def test_an_offer_never_sent_ends_without_a_write(self) -> None:
        step = states.next_step(wanted(state=states.NOT_LISTABLE, listed=False), "x")
        assert step is not None and step.state == states.ENDED and step.work is None

    def test_a_create_under_way_is_left_to_its_outcome(self) -> None:
        assert states.next_step(wanted(state=states.CREATING, listed=False), "x") is None
        assert states.next_step(wanted(state=states.CREATING, stock=0), "x") is None

    def test_a_product_pricing_cannot_price_is_not_listable_with_pricings_reason(self) -> None:
        step = states.next_step(wanted(has_base_price=False, base_unpriced="no_shipping_band"), "x")
        assert step is not None and step.state == states.NOT_LISTABLE and step.reason is not None
        assert step.reason["code"] == "no_shipping_band"
        assert "shipping price list" in step.reason["message"]
        # No answer from pricing yet: it waits; a price later moves it on to the checks.
        waiting = states.next_step(wanted(has_base_price=False), "x")
        assert waiting is not None and waiting.waiting_for == ("price",)
        priced = states.next_step(wanted(state=states.NOT_LISTABLE), "price revision 2")
        assert priced is not None and priced.state == states.CHECKING

    def test_a_not_listable_offer_is_checked_again_on_new_data(self) -> None:
        step = states.next_step(wanted(state=states.NOT_LISTABLE), "catalogue revision 2")
        assert step is not None and step.state == states.CHECKING

    def test_a_published_offer_with_another_handling_time_is_edited(self) -> None:
        for state in (states.ACTIVE, states.INACTIVE, states.ENDED):
            step = states.next_step(
                wanted(state=state, offer_id="1", handling_time_outdated=True), "revision 2"
            )
            assert step == states.Step(None, "revision 2", work=states.HANDLING_TIME)
        # A withdrawn offer is ended, not edited; one never published has nothing to edit.
        withdrawn = wanted(state=states.ACTIVE, offer_id="1", listed=False)
        step = states.next_step(dataclasses.replace(withdrawn, handling_time_outdated=True), "x")
        assert step is not None and step.work == states.END
        step = states.next_step(wanted(handling_time_outdated=True), "x")
        assert step is not None and step.work == states.CHECK

    def test_a_published_offer_with_another_gallery_gets_its_images_edited(self) -> None:
        for state in (states.ACTIVE, states.INACTIVE, states.ENDED):
            step = states.next_step(
                wanted(state=state, offer_id="1", images_outdated=True), "revision 2"
            )
            assert step == states.Step(None, "revision 2", work=states.IMAGES)
        step = states.next_step(wanted(images_outdated=True), "x")
        assert step is not None and step.work == states.CHECK


class TestImages:
    def test_the_gallery_keeps_the_catalogues_order_each_url_once_at_most_sixteen(self) -> None:
        urls = [f"https://cdn.example/{n}.jpg" for n in range(20)]
        content = {"images": [urls[0], urls[1], urls[0], "", "ftp://x/y.jpg", *urls[2:]]}
        assert images.wanted_sources(content) == urls[:16]
        assert images.wanted_sources(None) == [] and images.wanted_sources({"images": None}) == []

    def test_a_cached_upload_is_reused_while_allegro_keeps_it_long_enough(self) -> None:
        from datetime import UTC, datetime, timedelta

        now = datetime(2026, 1, 1, tzinfo=UTC)
        assert images.reusable(None, now)  # an offer uses it: Allegro keeps it
        assert images.reusable(now + timedelta(hours=23), now)
        assert not images.reusable(now + timedelta(minutes=30), now)
        assert not images.reusable(now - timedelta(seconds=1), now)

    def test_refused_images_are_said_in_plain_words(self) -> None:
        gallery = images.Gallery(
            ["https://c/1.jpg", "https://c/2.jpg"],
            ["https://a.allegroimg.com/1"],
            {"https://c/2.jpg": "Allegro answered 422 DownloadError.Forbidden"},
        )
        note = gallery.note()
        assert note is not None and note["code"] == "image_not_uploaded"
        assert "1 of 2 images sent" in note["message"] and "https://c/2.jpg" in note["message"]
        assert images.Gallery(["https://c/1.jpg"], ["https://a/1"]).note() is None

    def test_the_descriptions_images_are_swapped_for_allegros_refused_ones_left_out(
        self,
    ) -> None:
        text = {"type": "TEXT", "content": "<p>Czajnik</p>", "url": None}
        content: dict[str, Any] = {
            "description_sections": [
                {"items": [text, {"type": "IMAGE", "url": "https://c/1.jpg", "content": None}]},
                {"items": [{"type": "IMAGE", "url": "https://c/2.jpg"}]},
                {"items": [{"type": "IMAGE", "url": "https://c/1.jpg"}]},
            ]
        }
        assert images.description_sources(content) == ["https://c/1.jpg", "https://c/2.jpg"]
        hosted = {"https://c/1.jpg": "https://a.allegroimg.com/1"}
        sent = images.described(content["description_sections"], hosted)
        assert sent == [
            {
                "items": [
                    {"type": "TEXT", "content": "<p>Czajnik</p>"},
                    {"type": "IMAGE", "url": "https://a.allegroimg.com/1"},
                ]
            },
            {"items": [{"type": "IMAGE", "url": "https://a.allegroimg.com/1"}]},
        ]

    def test_a_refusal_is_kept_for_the_retry_time(self) -> None:
        from datetime import UTC, datetime, timedelta

        now = datetime(2026, 1, 8, tzinfo=UTC)
        week = timedelta(days=7)
        assert images.still_refused(now - timedelta(days=6), now, week)
        assert not images.still_refused(now - week, now, week)


class TestHandlingTime:
    @pytest.mark.parametrize(
        ("days", "account", "sent"),
        [
            (0, None, "PT0S"),
            (1, None, "PT24H"),
            (2, None, "P2D"),
            (6, None, "P7D"),  # rounded up: never promise less than needed
            (90, None, "P60D"),  # the longest Allegro takes
            (1, "P3D", "P3D"),  # the account's own is the minimum
            (5, "P3D", "P5D"),
            (None, "P2D", "P2D"),
            (None, None, None),  # neither: Allegro's default stays
            ("2", None, None),  # not whole days as a number: not the supplier's days
        ],
    )
    def test_the_larger_of_the_suppliers_days_and_the_accounts_own(
        self, days: Any, account: str | None, sent: str | None
    ) -> None:
        assert listing.handling_time(days, account) == sent

    def test_the_body_carries_it_beside_the_shipping_list(self) -> None:
        draft = listing.product_offer_body(
            "SKU-1", ITEM, 4, PRICES, {}, ACCOUNT, "rates-1", DEFINITIONS, "P2D"
        )
        assert draft.body is not None
        assert draft.body["delivery"] == {
            "shippingRates": {"id": "rates-1"},
            "handlingTime": "P2D",
        }


class TestParameters:
    def test_condition_new_is_filled_and_conditional_requirements_hold(self) -> None:
        found, problems = listing.offer_parameters(DEFINITIONS, {})
        assert found == [{"id": "11323", "valuesIds": ["11323_1"]}]
        assert problems == []  # Stan opakowania is required only for a used item

    def test_a_used_item_needs_its_packaging(self) -> None:
        _, problems = listing.offer_parameters(DEFINITIONS, {"Stan": "Używany"})
        assert [(p.code, p.parameter_id) for p in problems] == [("parameter_missing", "248467")]

    def test_attributes_fill_parameters_by_name_or_id(self) -> None:
        found, problems = listing.offer_parameters(
            DEFINITIONS, {"stan opakowania": "Oryginalne", "500": "24"}
        )
        assert problems == []
        assert {"id": "248467", "valuesIds": ["248467_1"]} in found
        assert {"id": "500", "values": ["24"]} in found

    @pytest.mark.parametrize(
        ("attributes", "parameter"),
        [
            ({"Stan opakowania": "gwiazda"}, "248467"),
            ({"Gwarancja producenta": "dwa lata"}, "500"),
            ({"Gwarancja producenta": "500"}, "500"),  # above the category's max
            ({"Gwarancja producenta": "1.5"}, "500"),  # not an integer
        ],
    )
    def test_values_the_category_refuses_are_problems(
        self, attributes: dict[str, str], parameter: str
    ) -> None:
        _, problems = listing.offer_parameters(DEFINITIONS, attributes)
        assert [(p.code, p.parameter_id) for p in problems] == [("parameter_invalid", parameter)]

    def test_a_required_offer_parameter_without_value_is_missing(self) -> None:
        required = {**WARRANTY, "required": True}
        _, problems = listing.offer_parameters([CONDITION, required], {})
        assert [p.detail for p in problems] == ["Gwarancja producenta (500) is required"]

    def test_product_parameters_are_left_to_the_catalogue_product(self) -> None:
        found, problems = listing.offer_parameters([BRAND], {})
        assert found == [] and problems == []


class TestPrices:
    @pytest.mark.parametrize(
        ("amount", "currency", "text"),
        [
            ("49.9", "PLN", "49.90"),
            ("49.999", "PLN", None),
            ("290.00", "CZK", "290"),
            ("290.50", "CZK", None),
            ("1995", "HUF", "1995"),
            ("1993", "HUF", None),
            ("11.9", "EUR", "11.90"),
            ("0", "PLN", None),
        ],
    )
    def test_each_currency_has_its_precision(
        self, amount: str, currency: str, text: str | None
    ) -> None:
        assert price_text(Decimal(amount), currency) == text

    def test_a_marketplace_without_a_usable_price_is_left_out_with_why(self) -> None:
        sent, skipped = marketplace_prices(
            {**PRICES, "allegro-sk": {"amount": "11.9", "currency": "PLN"}},
            {"allegro-hu": "no fx rate"},
            ["allegro-pl", "allegro-cz", "allegro-sk", "allegro-hu"],
        )
        assert sent == {
            "allegro-pl": {"amount": "49.90", "currency": "PLN"},
            "allegro-cz": {"amount": "290", "currency": "CZK"},
        }
        assert skipped["allegro-hu"] == "no fx rate"
        assert "allegro-sk takes EUR" in skipped["allegro-sk"]


class TestBody:
    def test_the_offer_links_the_product_by_ean_with_every_setting(self) -> None:
        draft = listing.product_offer_body(
            "SKU-1", ITEM, 4, PRICES, {}, ACCOUNT, "rates-1", DEFINITIONS
        )
        assert draft.problems == [] and draft.body is not None
        body = draft.body
        assert body["productSet"] == [
            {
                "product": {"id": "5901234123457", "idType": "GTIN"},
                "responsibleProducer": {"type": "ID", "id": "prod-1"},
                "safetyInformation": {"type": "TEXT", "description": "Keep away from children."},
            }
        ]
        assert body["external"] == {"id": "SKU-1"}
        assert body["sellingMode"]["price"] == {"amount": "49.90", "currency": "PLN"}
        assert body["additionalMarketplaces"] == {
            "allegro-cz": {"sellingMode": {"price": {"amount": "290", "currency": "CZK"}}},
            "allegro-sk": {"sellingMode": {"price": {"amount": "11.90", "currency": "EUR"}}},
        }
        assert body["delivery"] == {"shippingRates": {"id": "rates-1"}}
        assert body["afterSalesServices"] == {
            "returnPolicy": {"id": "rp-1"},
            "impliedWarranty": {"id": "iw-1"},
        }
        assert body["stock"] == {"available": 4, "unit": "UNIT"}
        assert body["publication"] == {"status": "ACTIVE"}
        assert body["category"] == {"id": "1521"}
        assert body["description"] == {"sections": ITEM["description_sections"]}

    def test_a_cz_based_account_prices_in_czk_and_never_lists_pl_as_additional(self) -> None:
        account = dataclasses.replace(ACCOUNT, base_marketplace="allegro-cz")
        draft = listing.product_offer_body(
            "SKU-1", ITEM, 4, PRICES, {}, account, "rates-1", DEFINITIONS
        )
        assert draft.body is not None
        assert draft.body["sellingMode"]["price"] == {"amount": "290", "currency": "CZK"}
        assert list(draft.body["additionalMarketplaces"]) == ["allegro-sk"]
        assert draft.skipped_marketplaces == {
            "allegro-pl": "not an additional marketplace of an account based on allegro-cz"
        }

    def test_every_problem_is_reported_at_once(self) -> None:
        item = {**ITEM, "ean": None, "title": "short", "attributes": {"Stan": "zepsuty"}}
        draft = listing.product_offer_body(
            "SKU-1", item, 4, {"allegro-cz": PRICES["allegro-cz"]}, {}, ACCOUNT, "r", DEFINITIONS
        )
        assert draft.body is None
        assert [p.code for p in draft.problems] == [
            "no_ean",
            "title_length",
            "parameter_invalid",
            "price_invalid",
        ]


@pytest.mark.parametrize(
    ("codes", "outcome"),
    [
        (["ProductNotFoundException"], (states.NOT_LISTABLE, "product_missing")),
        (["MultipleProductsFoundException"], (states.NOT_LISTABLE, "product_ambiguous")),
        (
            ["VALIDATION_ERROR", "MissingRequiredParameters"],
            (states.NOT_LISTABLE, "parameter_missing"),
        ),
        (["PRODUCT_SAFETY_EMPTY"], (states.NOT_LISTABLE, "product_safety")),
        (["VALIDATION_ERROR"], (states.FAILED, "allegro_rejected")),
    ],
)
def test_allegros_refusals_are_classified(codes: list[str], outcome: tuple[str, str]) -> None:
    assert classify(422, codes) == outcome


def test_marketplace_states_as_allegro_reports_them() -> None:
    offer = {
        "publication": {"status": "ACTIVE", "marketplaces": {"base": {"id": "allegro-pl"}}},
        "additionalMarketplaces": {
            "allegro-cz": {"publication": {"state": "APPROVED", "refusalReasons": []}},
            "allegro-sk": {
                "publication": {
                    "state": "REFUSED",
                    "refusalReasons": [{"code": "VQR001_CURRENCY_NOT_AVAILABLE"}],
                }
            },
            "allegro-hu": {"sellingMode": None},
        },
    }
    assert listing.marketplace_states(offer) == {
        "allegro-pl": {"state": "ACTIVE"},
        "allegro-cz": {"state": "APPROVED", "refusal_reasons": []},
        "allegro-sk": {"state": "REFUSED", "refusal_reasons": ["VQR001_CURRENCY_NOT_AVAILABLE"]},
    }


def to_sync(**changes: Any) -> sync.OfferToSync:
    values: dict[str, Any] = {
        "account_id": "acct",
        "sku": "A",
        "state": states.ACTIVE,
        "offer_id": "77",
        "listed": True,
        "stock": 3,
        "sent_stock": 3,
        "prices": {"allegro-pl": {"amount": "49.90", "currency": "PLN"}},
        "unpriced": {},
        "sent_prices": {"allegro-pl": {"amount": "49.90", "currency": "PLN"}},
        "price_revision": 4,
    }
    return sync.OfferToSync(**{**values, **changes})


def change(sku: str, kind: str = sync.PRICE, amount: str = "10.00") -> sync.Change:
    value = {"amount": amount, "currency": "PLN"} if kind == sync.PRICE else {"quantity": 2}
    return sync.Change("acct", sku, f"o-{sku}", kind, "allegro-pl", value)


class TestSync:
    def test_an_offer_in_sync_needs_nothing(self) -> None:
        assert sync.next_change(to_sync()) is None
        # 290 and 290.00 CZK are one price: no command for a difference of notation.
        cz = {"allegro-cz": {"amount": "290.00", "currency": "CZK"}}
        sent = {"allegro-cz": {"amount": "290", "currency": "CZK"}}
        assert sync.next_change(to_sync(prices=cz, sent_prices=sent)) is None

    def test_stock_goes_before_price_and_sold_out_ends(self) -> None:
        both = to_sync(stock=5, prices={"allegro-pl": {"amount": "59.90", "currency": "PLN"}})
        found = sync.next_change(both)
        assert isinstance(found, sync.Change)
        assert (found.kind, found.value) == (sync.QUANTITY, {"quantity": 5})
        found = sync.next_change(dataclasses.replace(both, sent_stock=5))
        assert isinstance(found, sync.Change)
        assert (found.kind, found.marketplace, found.price_revision) == (
            sync.PRICE,
            "allegro-pl",
            4,
        )
        assert found.value == {"amount": "59.90", "currency": "PLN"}
        ended = sync.next_change(to_sync(stock=0))
        assert isinstance(ended, sync.Change) and ended.value == {"action": sync.END}

    def test_a_restock_sets_the_stock_then_reactivates(self) -> None:
        restocked = to_sync(state=states.ENDED, stock=6)
        found = sync.next_change(restocked)
        assert isinstance(found, sync.Change) and found.value == {"quantity": 6}
        found = sync.next_change(dataclasses.replace(restocked, sent_stock=6))
        assert isinstance(found, sync.Change) and found.value == {"action": sync.ACTIVATE}
        assert sync.next_change(to_sync(state=states.ENDED, stock=0)) is None

    def test_withdrawn_unsent_and_unpublished_marketplaces_are_not_synced(self) -> None:
        assert sync.next_change(to_sync(listed=False, stock=0)) is None
        assert sync.next_change(to_sync(offer_id=None, stock=9)) is None
        assert sync.next_change(to_sync(state=states.INACTIVE, stock=9)) is None
        # A marketplace the offer was not published on is left to its creation's `not_sent`.
        sk = {"allegro-sk": {"amount": "11.90", "currency": "EUR"}}
        assert sync.next_change(to_sync(prices={**to_sync().prices, **sk})) is None

    def test_a_price_allegro_would_refuse_is_held_with_its_reason(self) -> None:
        bad = {"allegro-pl": {"amount": "49.999", "currency": "PLN"}}
        found = sync.next_change(to_sync(prices=bad))
        assert isinstance(found, sync.Unsendable)
        assert found.reason["code"] == "price_invalid" and "precision" in found.reason["message"]

    def test_same_values_share_commands_of_at_most_a_thousand(self) -> None:
        changes = [change(f"S{i}") for i in range(2001)] + [change("X", amount="11.00")]
        found = sync.batches(changes)
        assert [len(b.changes) for b in found] == [1000, 1000, 1, 1]
        assert {b.value["amount"] for b in found[:3]} == {"10.00"}
        assert found[3].value["amount"] == "11.00"
        assert [len(b.changes) for b in sync.batches(changes[:5], limit=2)] == [2, 2, 1]
        # Never above Allegro's limit, whatever is configured.
        assert max(len(b.changes) for b in sync.batches(changes, limit=5000)) == 1000

    def test_an_offer_is_in_one_command_only_and_kinds_never_mix(self) -> None:
        found = sync.batches([change("A"), change("A", amount="12.00"), change("B", sync.QUANTITY)])
        assert [(b.kind, [c.sku for c in b.changes]) for b in found] == [
            (sync.PRICE, ["A"]),
            (sync.QUANTITY, ["B"]),
        ]
        assert found[0].value["amount"] == "10.00"

    def test_command_bodies_follow_allegros_schemas(self) -> None:
        price = sync.command_body(
            sync.PRICE, "allegro-cz", {"amount": "290", "currency": "CZK"}, ["1", "2"]
        )
        assert price == {
            "modification": {
                "type": "FIXED_PRICE",
                "price": {"amount": "290", "currency": "CZK"},
                "marketplaceId": "allegro-cz",
            },
            "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": "1"}, {"id": "2"}]}],
        }
        quantity = sync.command_body(sync.QUANTITY, None, {"quantity": 7}, ["1"])
        assert quantity["modification"] == {"changeType": "FIXED", "value": 7}
        end = sync.command_body(sync.PUBLICATION, None, {"action": sync.END}, ["1"])
        assert end["publication"] == {"action": "END"}

    def test_task_results_tell_success_transient_and_permanent_failures(self) -> None:
        tasks: list[dict[str, Any]] = [
            {"offer": {"id": "1"}, "status": "SUCCESS", "errors": []},
            {
                "offer": {"id": "2"},
                "status": "FAIL",
                "message": "busy",
                "errors": [{"code": "InProgressTaskLimitReachedException", "message": "busy"}],
            },
            {
                "offer": {"id": "3"},
                "status": "FAIL",
                "errors": [{"code": "VALIDATION_ERROR", "message": "Only an active offer"}],
            },
        ]
        ok, busy, refused, missing = sync.task_results(["1", "2", "3", "4"], tasks)
        assert ok.success and not busy.success and not refused.success
        assert busy.transient and not refused.transient
        assert missing.code == sync.NO_TASK and missing.transient
        reason = sync.failure_reason(sync.PUBLICATION, refused, surfaced=True)
        assert reason["code"] == "sync_failed" and reason["allegro_code"] == "VALIDATION_ERROR"
        assert "Only an active offer" in reason["message"] and reason["surfaced"]
        assert reason["allegro_errors"] == [
            {"code": "VALIDATION_ERROR", "message": "Only an active offer"}
        ]

    def test_backoff_doubles_up_to_its_cap(self) -> None:
        assert [sync.backoff(n, 2.0, 10.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 10.0]
