// GraphiQL from the vendored build: queries and mutations over HTTP, subscriptions
// over graphql-ws (graphql-transport-ws), with the headers pane's Authorization
// sent in connection_init as BookIt expects. No inline script: the page's CSP
// allows scripts from this origin only.
(function () {
  "use strict";
  const url = window.location.origin + "/graphql";
  const wsUrl = url.replace(/^http/, "ws");
  const http = GraphiQL.createFetcher({ url: url });

  function isSubscription(params) {
    const text = String(params.query || "").replace(/#[^\n]*/g, "");
    const named = params.operationName
      ? new RegExp("\\bsubscription\\s+" + params.operationName + "\\b").test(text)
      : false;
    return named || (!params.operationName && /^\s*subscription\b/.test(text));
  }

  function subscribe(params, options) {
    const client = graphqlWs.createClient({
      url: wsUrl,
      lazy: true,
      retryAttempts: 0,
      connectionParams: (options && options.headers) || {},
    });
    const events = client.iterate({
      query: params.query,
      variables: params.variables,
      operationName: params.operationName,
    });
    return {
      [Symbol.asyncIterator]() {
        return {
          next: () => events.next(),
          return: async () => {
            await events.return();
            client.dispose();
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  function fetcher(params, options) {
    return isSubscription(params) ? subscribe(params, options) : http(params, options);
  }

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
    })
  );
})();
