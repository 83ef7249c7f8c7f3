// Places a limit order through VenueGateway, validating it locally first with the contract's rules, and
// shows that PlaceOrder is idempotent by request_id (a retry returns the same order).
//   npx tsx place-order.ts [--target 127.0.0.1:50051]
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PlaceOrderRequestSchema, VenueGateway } from "@crypto-quant/cqc/services/v1";
import { validate } from "@crypto-quant/cqc/validation";
import { OrderStatus, OrderType, Side, TimeInForce } from "@crypto-quant/cqc/venues/v1";

const { values } = parseArgs({ options: { target: { type: "string", default: "127.0.0.1:50051" } } });

const transport = createGrpcTransport({ baseUrl: `http://${values.target}` });
const gateway = createClient(VenueGateway, transport);

const request = create(PlaceOrderRequestSchema, {
  requestId: randomUUID(), // the idempotency key: retry with the same id, never a new one
  order: {
    accountId: "acc_01JDBNSP0TMA1N000000000000",
    marketId: "mkt_01JDBNBTCVSDTSP0T000000000",
    side: Side.BUY,
    orderType: OrderType.LIMIT,
    timeInForce: TimeInForce.GTC,
    quantity: "0.001", // decimals are strings: no float rounding
    price: "60000.00",
  },
});
validate(PlaceOrderRequestSchema, request); // the same rules the server enforces; throws InvalidMessageError

const { order } = await gateway.placeOrder(request, { timeoutMs: 5_000 });
if (order === undefined) {
  throw new Error("PlaceOrder answered OK without an order");
}
console.log(`placed ${order.orderId}: ${OrderStatus[order.status]} ${order.quantity} @ ${order.price} (client id ${order.clientOrderId})`);

const retry = await gateway.placeOrder(request, { timeoutMs: 5_000 });
if (retry.order?.orderId !== order.orderId) {
  throw new Error(`retry with the same request_id created another order: ${retry.order?.orderId}`);
}
console.log(`retry with the same request_id returned the same order ${retry.order.orderId}`);
