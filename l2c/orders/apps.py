from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "l2c.orders"
    label = "orders"
    verbose_name = _("Orders")

    def ready(self):
        from l2c.core.events import register_event, subscribe

        from . import services

        order = ("order_id, number, contract_id, account_id, owner_id, status, currency, net_total, tax_total, "
                 "gross_total, ordered_on, fulfilled_on")
        register_event("order.created", f"An order was created from a signed contract, or split off another "
                       f"order (a later delivery phase). Payload: {order}, lines, split_from_id (splits only).")
        register_event("order.line_fulfilled", "Part or all of an order line was fulfilled (goods shipped, service "
                       "delivered, milestone completed, subscription activated). Payload: order_id, order_number, "
                       "contract_id, account_id, line_id, contract_line_id, product_id, kind, source "
                       "(shipment|delivery|milestone|activation), quantity (this time), quantity_fulfilled, "
                       "line_quantity, line_status, fulfilled_on, currency, net_amount, tax_amount, gross_amount "
                       "(the part of the line's amounts fulfilled this time; they add up to the line's amounts), "
                       "and shipment_id, tracking_number, carrier | milestone_id, milestone_name, share_percent | "
                       "service_start, service_end.")
        register_event("order.fulfilled", f"Every line of an order is fulfilled. Payload: {order}.")
        register_event("order.cancelled", f"An order was cancelled before anything was fulfilled. Payload: {order}, "
                       "reason.")
        register_event("order.subscription_ended", "An active subscription line was deactivated. Payload: order_id, "
                       "order_number, contract_id, line_id, contract_line_id, product_id, active_from, active_until.")
        subscribe("contract.created", services.on_contract_created)
