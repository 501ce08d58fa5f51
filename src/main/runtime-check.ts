// Flamingo needs net.Server.listen({ reusePort }) (Node 22.12+). Fail at
// import with a message that says so, rather than with an obscure error
// from a worker later.

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  const error = new Error(
    `Flamingo needs Node.js 22.12 or newer (for reusePort listeners); this is Node.js ${process.versions.node}. ` +
      'Run it through the npm scripts, which use the Node 24 the package brings, or upgrade Node.',
  );
  (error as Error & { code: string }).code = 'ERR_FLAMINGO_NODE_VERSION';
  throw error;
}
