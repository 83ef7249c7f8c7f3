// Command client calls AssetRegistry over REST with net/http only (no generated code): it resolves Binance's
// "BTCUSDT" (GET /v1/markets:resolve) and shows the error model, a google.rpc.Status JSON body, on a
// malformed id.
//
//	go run ./rest/client -url http://127.0.0.1:8080      (or set CQC_REST_URL)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// binance is the CQC venue id of Binance (spot) in the reference data.
const binance = "ven_01JDB1NANCE000000000000000"

// get sends a GET and decodes the JSON body: the response message, or a google.rpc.Status on errors.
func get(ctx context.Context, base, path string, query url.Values) (int, map[string]any, error) {
	target := strings.TrimRight(base, "/") + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, body, nil
}

func main() {
	base := os.Getenv("CQC_REST_URL")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	flag.StringVar(&base, "url", base, "base URL of a CQC REST endpoint")
	flag.Parse()
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Canonical proto JSON: lowerCamelCase names, decimals as strings, enums by name.
	code, body, err := get(ctx, base, "/v1/markets:resolve", url.Values{"venueId": {binance}, "venueSymbol": {"BTCUSDT"}})
	if err != nil || code != http.StatusOK {
		log.Fatalf("resolve: HTTP %d %v %v", code, body, err)
	}
	market, _ := body["market"].(map[string]any)
	fmt.Printf("market_id: %v  tick_size: %v  lot_size: %v\n", market["marketId"], market["tickSize"], market["lotSize"])

	// Errors: HTTP status from the gRPC code, body {"code", "message", "details": [ErrorInfo, BadRequest]}.
	code, status, err := get(ctx, base, "/v1/assets/not-an-id", nil)
	if err != nil || code != http.StatusBadRequest || status["code"] != float64(3) {
		log.Fatalf("expected INVALID_ARGUMENT: HTTP %d %v %v", code, status, err)
	}
	reason := ""
	details, _ := status["details"].([]any)
	for _, d := range details {
		if detail, ok := d.(map[string]any); ok && strings.HasSuffix(fmt.Sprint(detail["@type"]), "google.rpc.ErrorInfo") {
			reason = fmt.Sprint(detail["reason"])
		}
	}
	fmt.Printf("malformed id: HTTP %d, code 3 (INVALID_ARGUMENT), reason %s\n", code, reason)
}
