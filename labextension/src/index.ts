/**
 * jupyter-blocks: the "Blocks gallery" panel for JupyterLab 4 and Notebook 7.
 */
import {
  ILabShell,
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IFrame,
  MainAreaWidget,
  showErrorMessage
} from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { launchIcon } from '@jupyterlab/ui-components';

/* eslint-disable jupyter/prefer-lazy-imports -- activate() needs them at once:
   it makes the gallery panel, with its model and client, for the sidebar, and
   the grid tabs, whose tracker goes to the layout restorer. */
import { BlocksClient, defaultTransport, type IGridSummary } from './api';
import { confirmDelete } from './deletion';
import { errorMessage } from './errors';
import { GalleryPanel } from './gallery';
import { GridTabs } from './gridtabs';
import { blocksIcon } from './icon';
import { Clock, GalleryEvents } from './live';
import { GalleryModel } from './model';
/* eslint-enable jupyter/prefer-lazy-imports */

const PLUGIN_ID = 'jupyter-blocks:plugin';

namespace CommandIDs {
  export const openGallery = 'jupyter-blocks:open-gallery';
  export const openGrid = 'jupyter-blocks:open-grid';
  export const openWebGallery = 'jupyter-blocks:open-web-gallery';
  export const openWall = 'jupyter-blocks:open-wall';
}

const PALETTE_CATEGORY = 'Blocks';

/** The `describedBy` arguments of a command that takes none. */
const NO_ARGS = { type: 'object', properties: {} } as const;

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A gallery of the ipythonblocks grids shared on this Jupyter server.',
  autoStart: true,
  requires: [IEditorServices],
  optional: [
    ILabShell,
    ILayoutRestorer,
    ISettingRegistry,
    ICommandPalette,
    INotebookTracker,
    IMainMenu,
    ITranslator
  ],
  activate: (
    app: JupyterFrontEnd,
    editorServices: IEditorServices,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    mainMenu: IMainMenu | null,
    translator: ITranslator | null
  ) => {
    const { commands, shell } = app;
    translator = translator ?? nullTranslator;
    const trans = translator.load('jupyter_blocks');
    // The JupyterHub gallery service when the server names one, else this server.
    const client = new BlocksClient(
      defaultTransport(app.serviceManager.serverSettings)
    );
    // One event stream for the page, shared by the gallery and every grid tab.
    const events = new GalleryEvents({ connect: () => client.events() });
    const clock = new Clock();
    const model = new GalleryModel({ client, events, clock });

    // Grid tabs need a main area with tabs (JupyterLab); Notebook 7 opens the
    // grid's own HTML page instead.
    const tabs = labShell
      ? new GridTabs({
          shell,
          client,
          editorServices,
          trans,
          notebooks,
          onDeleted: id => model.removeItem(id),
          events,
          clock
        })
      : null;
    const openGrid = (summary: IGridSummary): void => {
      if (tabs) {
        void commands.execute(CommandIDs.openGrid, { id: summary.id });
      } else {
        window.open(summary.url, '_blank', 'noopener');
      }
    };

    const deleteGrid = async (summary: IGridSummary): Promise<void> => {
      if (!(await confirmDelete(trans, summary.title, summary.id))) {
        return;
      }
      try {
        await client.remove(summary.id);
      } catch (error) {
        await showErrorMessage(
          trans.__('Could not delete the grid'),
          errorMessage(error, trans)
        );
        return;
      }
      model.removeItem(summary.id);
      tabs?.close(summary.id);
    };

    // The class wall, one tab of it at most.
    let wall: MainAreaWidget<IFrame> | null = null;
    const openWall = (): void => {
      if (!wall || wall.isDisposed) {
        const frame = new IFrame({
          sandbox: ['allow-scripts', 'allow-same-origin']
        });
        // The wall's "Full screen" button needs it.
        frame.node.querySelector('iframe')?.setAttribute('allowfullscreen', '');
        frame.url = client.wallURL();
        frame.addClass('jp-BlocksWall');
        wall = new MainAreaWidget({ content: frame });
        wall.id = 'jupyter-blocks-wall';
        wall.title.label = trans.__('Class wall');
        wall.title.caption = trans.__(
          'The newest shared grids, live, for a projector'
        );
        wall.title.icon = blocksIcon;
        wall.title.closable = true;
        shell.add(wall, 'main');
      }
      shell.activateById(wall.id);
    };

    const gallery = new GalleryPanel({
      model,
      openGrid,
      deleteGrid: summary => void deleteGrid(summary),
      openWall: () => void commands.execute(CommandIDs.openWall),
      translator
    });
    shell.add(gallery, 'left', { rank: 700 });

    commands.addCommand(CommandIDs.openGallery, {
      label: trans.__('Blocks gallery'),
      caption: trans.__('Show the gallery of shared ipythonblocks grids'),
      icon: blocksIcon,
      describedBy: { args: NO_ARGS },
      execute: () => shell.activateById(gallery.id)
    });
    commands.addCommand(CommandIDs.openWebGallery, {
      label: trans.__('Blocks gallery (web page)'),
      caption: trans.__(
        'Open the HTML gallery of shared grids in a new browser tab'
      ),
      icon: launchIcon,
      describedBy: { args: NO_ARGS },
      execute: () =>
        void window.open(client.galleryPageURL(), '_blank', 'noopener')
    });
    commands.addCommand(CommandIDs.openWall, {
      label: trans.__('Open class wall'),
      caption: trans.__(
        'Show the newest shared grids as a live mosaic, for a projector'
      ),
      icon: blocksIcon,
      describedBy: { args: NO_ARGS },
      execute: () =>
        labShell
          ? openWall()
          : void window.open(client.wallURL(), '_blank', 'noopener')
    });
    if (tabs) {
      commands.addCommand(CommandIDs.openGrid, {
        label: args => trans.__('Open grid %1', String(args.id ?? '')).trim(),
        caption: trans.__('Open a shared grid in a tab'),
        icon: blocksIcon,
        describedBy: {
          args: {
            type: 'object',
            properties: {
              id: {
                type: 'string',
                description: trans.__('The id of the shared grid')
              }
            },
            required: ['id']
          }
        },
        execute: args => tabs.open(String(args.id))
      });
    }

    palette?.addItem({
      command: CommandIDs.openGallery,
      category: PALETTE_CATEGORY
    });
    palette?.addItem({
      command: CommandIDs.openWebGallery,
      category: PALETTE_CATEGORY
    });
    palette?.addItem({
      command: CommandIDs.openWall,
      category: PALETTE_CATEGORY
    });
    mainMenu?.viewMenu.addGroup(
      [
        { command: CommandIDs.openGallery },
        { command: CommandIDs.openWebGallery },
        { command: CommandIDs.openWall }
      ],
      100
    );

    if (restorer) {
      restorer.add(gallery, gallery.id);
      if (tabs) {
        void restorer.restore(tabs.tracker, {
          command: CommandIDs.openGrid,
          args: tab => ({ id: tab.content.gridId }),
          name: tab => tab.content.gridId
        });
      }
    }

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = (): void => {
            model.pageSize = settings.get('pageSize').composite as number;
            model.autoRefresh = settings.get('autoRefresh')
              .composite as boolean;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.error('jupyter-blocks: could not load the settings.', reason);
        });
    }
  }
};

export default plugin;
