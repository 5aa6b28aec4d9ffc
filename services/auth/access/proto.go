package access

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

// Proto returns d as the CheckAccess response message.
func (d Decision) Proto() *authv1.CheckAccessResponse {
	out := &authv1.CheckAccessResponse{
		Allowed:     d.Allowed,
		RuleResults: make([]*authv1.RuleResult, 0, len(d.Rules)),
	}
	for _, r := range d.Rules {
		pr := &authv1.RuleResult{
			RuleIndex:   uint32(r.Index),
			Satisfied:   r.Satisfied,
			BlockNumber: r.BlockNumber,
			Cached:      r.Cached,
		}
		if r.Balance != nil {
			pr.Balance = r.Balance.String()
		}
		if !r.CheckedAt.IsZero() {
			pr.CheckTime = timestamppb.New(r.CheckedAt)
		}
		out.RuleResults = append(out.RuleResults, pr)
	}
	return out
}
