package access_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/streamgate/streamgate/services/auth/access"
)

func TestDecisionProto(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	d := access.Decision{Allowed: true, Rules: []access.RuleResult{
		{Index: 0, Satisfied: false, Balance: big.NewInt(0), BlockNumber: 9, CheckedAt: at},
		{Index: 1, Satisfied: true, Balance: new(big.Int).Lsh(big.NewInt(1), 200), BlockNumber: 10, Cached: true, CheckedAt: at},
	}}
	p := d.Proto()
	if !p.GetAllowed() || len(p.GetRuleResults()) != 2 {
		t.Fatalf("got %v", p)
	}
	r := p.GetRuleResults()[1]
	if r.GetRuleIndex() != 1 || !r.GetSatisfied() || !r.GetCached() || r.GetBlockNumber() != 10 ||
		r.GetBalance() != "1606938044258990275541962092341162602522202993782792835301376" || !r.GetCheckTime().AsTime().Equal(at) {
		t.Fatalf("rule 1 = %v", r)
	}
	if pub := (access.Decision{Allowed: true}).Proto(); !pub.GetAllowed() || len(pub.GetRuleResults()) != 0 {
		t.Fatalf("public = %v", pub)
	}
}
