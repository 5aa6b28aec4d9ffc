package events

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// AnyPublisher is the publisher of an event every service may publish
// (log.record).
const AnyPublisher = "*"

// publishers maps each event subject to the service its contract names as
// publisher, read from the event options in protoregistry.
func publishers() (map[string]string, error) {
	bySubject := map[string]string{}
	var rangeErr error
	visit := func(md protoreflect.MessageDescriptor) {
		eo := eventOptions(md)
		if eo == nil || rangeErr != nil {
			return
		}
		// An event with no publisher would be publishable by anyone or no
		// one; the contract must say which.
		if eo.GetPublisher() == "" {
			rangeErr = fmt.Errorf("events: %s names no publisher", md.FullName())
			return
		}
		bySubject[eo.GetSubject()] = eo.GetPublisher()
	}
	protoregistry.GlobalFiles.RangeFilesByPackage(eventsPackage, func(fd protoreflect.FileDescriptor) bool {
		walkMessages(fd.Messages(), visit)
		return rangeErr == nil
	})
	if rangeErr != nil {
		return nil, rangeErr
	}
	if len(bySubject) == 0 {
		return nil, fmt.Errorf("events: no event messages registered in package %s", eventsPackage)
	}
	return bySubject, nil
}

// PublishDenied returns, sorted, the event subjects service must not
// publish: those whose contract names another service as publisher. A NATS
// server denies them to the service's credentials, so a consumer can trust
// that an event came from the service its contract names. Subjects that are
// not events (JetStream API, inboxes, work queues) are not listed.
func PublishDenied(service string) ([]string, error) {
	bySubject, err := publishers()
	if err != nil {
		return nil, err
	}
	var denied []string
	for subject, p := range bySubject {
		if p != AnyPublisher && p != service {
			denied = append(denied, subject)
		}
	}
	slices.Sort(denied)
	return denied, nil
}
