package server

import (
	"fmt"
	"slices"
	"strings"

	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Field numbers of FileDescriptorProto and ServiceDescriptorProto, the
// first elements of a SourceCodeInfo location path.
const (
	fileMessagePath = 4
	fileEnumPath    = 5
	fileServicePath = 6
	serviceMethod   = 2
)

// prunedPackage is the package prefix whose files lose what the kept
// methods do not reach; other files (google/...) are served whole.
const prunedPackage = "streamgate."

// filteredReflector answers reflection for the methods of the named
// services that keep accepts: it serves copies of their files in which the
// other methods, the services left empty and the StreamGate messages and
// enums only those reached are gone, so neither `grpcurl list` nor
// `grpcurl describe` reveals them. Health is always kept whole.
func filteredReflector(names []string, keep func(protoreflect.MethodDescriptor) bool) (*grpcreflect.Reflector, error) {
	f := filter{keptMethods: map[protoreflect.FullName]bool{}, reached: map[protoreflect.FullName]bool{}}
	var listed []string
	var roots []protoreflect.FileDescriptor
	for _, name := range names {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, fmt.Errorf("server: reflection of %s: %w", name, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("server: reflection of %s: not a service", name)
		}
		kept := false
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			if name != grpchealth.HealthV1ServiceName && !keep(md) {
				continue
			}
			kept = true
			f.keptMethods[md.FullName()] = true
			f.mark(md.Input())
			f.mark(md.Output())
		}
		if kept {
			listed = append(listed, name)
			roots = append(roots, sd.ParentFile())
		}
	}
	files := closure(roots)
	// Extensions stay (the access and HTTP options the kept methods carry);
	// so do the types they name.
	for _, fd := range files {
		for i := range fd.Extensions().Len() {
			xd := fd.Extensions().Get(i)
			f.mark(xd.ContainingMessage())
			f.mark(xd.Message())
			f.mark(xd.Enum())
		}
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range files {
		set.File = append(set.File, f.prune(fd))
	}
	reg, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("server: filtered reflection: %w", err)
	}
	types := new(protoregistry.Types)
	var typeErr error
	reg.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Extensions().Len() {
			if typeErr = types.RegisterExtension(dynamicpb.NewExtensionType(fd.Extensions().Get(i))); typeErr != nil {
				return false
			}
		}
		return true
	})
	if typeErr != nil {
		return nil, fmt.Errorf("server: filtered reflection: %w", typeErr)
	}
	return grpcreflect.NewReflector(grpcreflect.NamerFunc(func() []string { return listed }),
		grpcreflect.WithDescriptorResolver(reg),
		grpcreflect.WithExtensionResolver(types)), nil
}

// closure is roots and every file they import, transitively.
func closure(roots []protoreflect.FileDescriptor) []protoreflect.FileDescriptor {
	seen := map[string]bool{}
	var out []protoreflect.FileDescriptor
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		out = append(out, fd)
		for i := range fd.Imports().Len() {
			visit(fd.Imports().Get(i).FileDescriptor)
		}
	}
	for _, fd := range roots {
		visit(fd)
	}
	return out
}

type filter struct {
	keptMethods map[protoreflect.FullName]bool
	// reached holds the top-level messages and enums the kept methods and
	// extensions need; a nested type keeps its top-level parent whole.
	reached map[protoreflect.FullName]bool
}

// mark records d's top-level type as reached, then everything its fields
// (its nested messages' too) refer to. d may be nil.
func (f *filter) mark(d protoreflect.Descriptor) {
	if d == nil || (d.IsPlaceholder()) {
		return
	}
	for {
		if _, ok := d.Parent().(protoreflect.FileDescriptor); ok {
			break
		}
		d = d.Parent()
	}
	if f.reached[d.FullName()] {
		return
	}
	f.reached[d.FullName()] = true
	if md, ok := d.(protoreflect.MessageDescriptor); ok {
		f.markFields(md)
	}
}

func (f *filter) markFields(md protoreflect.MessageDescriptor) {
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		if m := fd.Message(); m != nil {
			f.mark(m)
		}
		if e := fd.Enum(); e != nil {
			f.mark(e)
		}
	}
	for i := range md.Messages().Len() {
		f.markFields(md.Messages().Get(i))
	}
}

// prune copies fd without what the filter drops, remapping its comments.
func (f *filter) prune(fd protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	fdp := protodesc.ToFileDescriptorProto(fd)
	if !strings.HasPrefix(string(fd.Package()), prunedPackage) {
		return fdp
	}
	pkg := string(fd.Package()) + "."
	messages := keepIndexes(fdp.GetMessageType(), func(m *descriptorpb.DescriptorProto) bool {
		return f.reached[protoreflect.FullName(pkg+m.GetName())]
	})
	enums := keepIndexes(fdp.GetEnumType(), func(e *descriptorpb.EnumDescriptorProto) bool {
		return f.reached[protoreflect.FullName(pkg+e.GetName())]
	})
	methods := map[int]map[int]int{}
	services := keepIndexes(fdp.GetService(), func(s *descriptorpb.ServiceDescriptorProto) bool {
		for _, m := range s.GetMethod() {
			if f.keptMethods[protoreflect.FullName(pkg+s.GetName()+"."+m.GetName())] {
				return true
			}
		}
		return false
	})
	for old, svc := range fdp.GetService() {
		if _, ok := services[old]; ok {
			methods[old] = keepIndexes(svc.GetMethod(), func(m *descriptorpb.MethodDescriptorProto) bool {
				return f.keptMethods[protoreflect.FullName(pkg+svc.GetName()+"."+m.GetName())]
			})
		}
	}
	out := proto.Clone(fdp).(*descriptorpb.FileDescriptorProto)
	out.MessageType = pick(fdp.GetMessageType(), messages)
	out.EnumType = pick(fdp.GetEnumType(), enums)
	out.Service = pick(fdp.GetService(), services)
	for old, nw := range services {
		svc := proto.Clone(fdp.GetService()[old]).(*descriptorpb.ServiceDescriptorProto)
		svc.Method = pick(fdp.GetService()[old].GetMethod(), methods[old])
		out.Service[nw] = svc
	}
	if sci := fdp.GetSourceCodeInfo(); sci != nil {
		out.SourceCodeInfo = &descriptorpb.SourceCodeInfo{}
		for _, loc := range sci.GetLocation() {
			path, ok := remap(loc.GetPath(), messages, enums, services, methods)
			if !ok {
				continue
			}
			l := proto.Clone(loc).(*descriptorpb.SourceCodeInfo_Location)
			l.Path = path
			out.SourceCodeInfo.Location = append(out.SourceCodeInfo.Location, l)
		}
	}
	return out
}

// keepIndexes maps the index of each element keep accepts to its index
// among the kept ones.
func keepIndexes[T any](xs []T, keep func(T) bool) map[int]int {
	m := map[int]int{}
	for i, x := range xs {
		if keep(x) {
			m[i] = len(m)
		}
	}
	return m
}

// pick returns the elements whose indexes idx keeps, in their order.
func pick[T any](xs []T, idx map[int]int) []T {
	out := make([]T, len(idx))
	for old, nw := range idx {
		out[nw] = xs[old]
	}
	return out
}

// remap rewrites a SourceCodeInfo path to the pruned file's indexes; ok is
// false for a location inside something dropped.
func remap(path []int32, messages, enums, services map[int]int, methods map[int]map[int]int) ([]int32, bool) {
	if len(path) < 2 {
		return path, true
	}
	var idx map[int]int
	switch path[0] {
	case fileMessagePath:
		idx = messages
	case fileEnumPath:
		idx = enums
	case fileServicePath:
		idx = services
	default:
		return path, true
	}
	nw, ok := idx[int(path[1])]
	if !ok {
		return nil, false
	}
	out := slices.Clone(path)
	out[1] = int32(nw)
	if path[0] == fileServicePath && len(path) >= 4 && path[2] == serviceMethod {
		m, ok := methods[int(path[1])][int(path[3])]
		if !ok {
			return nil, false
		}
		out[3] = int32(m)
	}
	return out, true
}
